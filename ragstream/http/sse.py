"""Server-Sent Events, both ways: encoding the query API's streamed answers, and decoding a stream
line by line (an OpenAI-compatible completion, or a client reading a streamed answer)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    event: str
    data: str


def encode_event(event: str, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{lines}\n".encode()


class SseDecoder:
    """Feed it the stream's lines; it returns an event at each blank line that ends one.

    Multi-line data is joined with newlines as the SSE spec says; comments (": keep-alive") and the
    id/retry fields are skipped. An event without a name is a "message".
    """

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []

    def feed(self, raw: str) -> ServerSentEvent | None:
        line = raw.rstrip("\r\n")
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    def flush(self) -> ServerSentEvent | None:
        """The pending event, if any: for servers that close the stream without a last blank line."""
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        return ServerSentEvent(event, "\n".join(data)) if data else None
