"""Server-Sent Events decoding for OpenAI-style streaming completions."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from ragstream.http.sse import SseDecoder


async def iter_sse_data(lines: AsyncIterable[str]) -> AsyncIterator[str]:
    """The data payload of each event (completions only use data)."""
    decoder = SseDecoder()
    async for line in lines:
        if (event := decoder.feed(line)) is not None:
            yield event.data
    # Servers that close the connection right after the last event without a blank line.
    if (event := decoder.flush()) is not None:
        yield event.data
