"""Webhooks: the tenant's systems told when something they care about happens (notices.py), driven
by the log and delivered by the stream workers (projection.py, dispatcher.py), managed through the
query API (routes.py). See docs/notifications.md."""

from pathlib import Path

# The tables of subscriptions, secrets, deliveries and attempts (applied after the registry's).
SCHEMA = Path(__file__).with_name("schema.sql").read_text()
