"""Change data capture: Debezium change events of database tables become document commands."""

from ragstream.streams.cdc.exceptions import CdcError, ConnectError, InvalidMapping, UnconvertibleEvent
from ragstream.streams.cdc.mapping import CdcMapping, load_mapping, load_mappings, to_command, to_commands

__all__ = [
    "CdcError",
    "CdcMapping",
    "ConnectError",
    "InvalidMapping",
    "UnconvertibleEvent",
    "load_mapping",
    "load_mappings",
    "to_command",
    "to_commands",
]
