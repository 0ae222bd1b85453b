from ragstream.exceptions import RagstreamError


class CodecError(RagstreamError):
    """A record could not be encoded or decoded."""


class UnknownSchema(CodecError):
    """The record names a schema (name or fingerprint) this codec does not know."""


class MalformedRecord(CodecError):
    """The bytes are not a valid single-object-encoded Avro record, or the data does not fit its schema."""
