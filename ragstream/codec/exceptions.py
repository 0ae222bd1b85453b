from ragstream.exceptions import RagstreamError


class CodecError(RagstreamError):
    """A record could not be encoded or decoded."""


class UnknownSchema(CodecError):
    """The record names a schema (name or fingerprint) this codec does not know."""


class MalformedRecord(CodecError):
    """The bytes are not a valid single-object-encoded Avro record, or the data does not fit its schema."""


class SchemaRejected(CodecError):
    """The schema registry refused a schema (incompatible with the subject's earlier versions, or invalid)."""


class RegistryUnavailable(RagstreamError):
    """The schema registry could not be reached. Not a CodecError: the record is fine, so it must not
    be dead-lettered; the caller fails and retries later."""
