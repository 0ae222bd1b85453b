"""Counters every stream processor shares."""

from prometheus_client import Counter

COMMANDS = Counter("ragstream_commands_total", "Commands processed by outcome", ["outcome"])
PROCESSED = Counter("ragstream_processed_total", "Records processed per processor", ["processor"])
