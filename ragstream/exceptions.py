"""The root of every error ragstream raises on purpose."""


class RagstreamError(Exception):
    """Base class: catch this to handle any ragstream failure."""


class ConfigurationError(RagstreamError):
    """Settings are missing or contradict each other."""
