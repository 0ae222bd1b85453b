from ragstream.codec.avro import AvroSingleObjectCodec, Codec, Decoded, load_codec
from ragstream.codec.exceptions import CodecError, MalformedRecord, UnknownSchema

__all__ = [
    "AvroSingleObjectCodec",
    "Codec",
    "CodecError",
    "Decoded",
    "MalformedRecord",
    "UnknownSchema",
    "load_codec",
]
