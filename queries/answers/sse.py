"""Minimal Server-Sent Events decoding, enough for OpenAI-style streaming completions."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator


async def iter_sse_data(lines: AsyncIterable[str]) -> AsyncIterator[str]:
    """The data payload of each event; multi-line data is joined with newlines as the SSE spec says.

    Comments (": keep-alive") and the event/id/retry fields are skipped: completions only use data.
    """
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    # Servers that close the connection right after the last event without a blank line.
    if data:
        yield "\n".join(data)
