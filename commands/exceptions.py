from ragstream.exceptions import RagstreamError


class CommandError(RagstreamError):
    """A command could not be accepted."""


class InvalidCommand(CommandError):
    """The command breaks a contract rule; nothing was written."""


class CommandNotWritten(CommandError):
    """Kafka did not acknowledge the command; the caller may retry (the command id makes that safe)."""
