"""The codec settings of unit tests: records in Avro's single-object encoding, which needs no
schema registry (the Confluent wire format is tested against the real registry in
tests/integration/test_schema_registry.py)."""

from ragstream.settings import CodecSettings

UNIT_CODEC = CodecSettings(wire_format="single-object")
