from functools import lru_cache

from ragstream.codec.avro import AvroSingleObjectCodec, Codec, Decoded, read_schema_dir
from ragstream.codec.confluent import ConfluentAvroCodec, registry_client
from ragstream.codec.exceptions import (
    CodecError,
    MalformedRecord,
    RegistryUnavailable,
    SchemaRejected,
    UnknownSchema,
)
from ragstream.settings import CodecSettings


@lru_cache(maxsize=8)
def load_codec(settings: CodecSettings) -> ConfluentAvroCodec:
    """The codec the settings ask for: writes `wire_format`, reads both encodings."""
    client = registry_client(settings.registry_url, settings.registry_basic_auth.get_secret_value())
    return ConfluentAvroCodec(
        read_schema_dir(settings.schemas_dir), client, write_format=settings.wire_format
    )


__all__ = [
    "AvroSingleObjectCodec",
    "Codec",
    "CodecError",
    "ConfluentAvroCodec",
    "Decoded",
    "MalformedRecord",
    "RegistryUnavailable",
    "SchemaRejected",
    "UnknownSchema",
    "load_codec",
]
