"""Change data capture: Debezium change events of database tables become document commands."""

from streams.cdc.exceptions import CdcError, ConnectError, InvalidMapping, UnconvertibleEvent
from streams.cdc.mapping import CdcMapping, load_mapping, load_mappings, to_command, to_commands
from streams.cdc.settings import mapping_paths

__all__ = [
    "CdcError",
    "CdcMapping",
    "ConnectError",
    "InvalidMapping",
    "UnconvertibleEvent",
    "load_mapping",
    "load_mappings",
    "mapping_paths",
    "to_command",
    "to_commands",
]
