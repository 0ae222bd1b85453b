"""The two lanes in front of the model: which one a document change takes, and whose turn it is.

A command marked bulk (`ragstream-lane: bulk`, see ragstream.topics.Lane) has its chunks written to
the bulk chunks topic; everything else to the interactive one. The embedding stage reads both and
gives the model to an interactive batch whenever one waits, so an edit waits for at most the one
bulk call in progress (at most `bulk_passages_per_call` passages), whatever backlog a bulk import left.

One document's changes can now reach the read models out of order across the lanes; the read
models keep the newest version and skip older ones (queries.readmodels.projection), which covers
upserts and deletes. An access change is partial (metadata and ACL, no content): had it overtaken
its document's content, that content would be skipped as stale and lost. So an access change
follows its document's content into the bulk lane while the content came through it. (Its producer asked
for the interactive lane, and its token names that lane's position, which it advances once applied
in the bulk lane: until then the interactive position may already have passed it, so such a token
can be answered before the access change shows. The content itself is never lost.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, TypeVar

from ragstream.settings import EmbeddingSettings
from ragstream.topics import LANE_HEADER, ROUTE_HEADER, Headers, Lane, header_lane

# What the validate stage keeps in a document's state: the lane its current content came through.
CONTENT_LANE = "content_lane"
T = TypeVar("T")


def passages_per_call(settings: EmbeddingSettings, lane: Lane) -> int:
    """The most passages one model call of `lane` takes: bulk calls are kept short, as an edit may
    wait for one."""
    return settings.bulk_passages_per_call if lane is Lane.BULK else settings.max_passages_per_call


def event_lanes(name: str, marked: Lane, state: Mapping[str, Any] | None) -> tuple[Lane, Lane]:
    """(lane, route) of the event a command becomes: `lane` is the one its producer asked for (its
    consistency token names it), `route` the chunks topic it takes."""
    if name == "UpdateDocumentAccess" and (state or {}).get(CONTENT_LANE) == Lane.BULK.value:
        return marked, Lane.BULK
    return marked, marked


def with_content_lane(name: str, state: dict[str, Any] | None, route: Lane) -> dict[str, Any] | None:
    """The document's new state, remembering the lane its content took (upserts only; a delete
    forgets it with the rest, an access change keeps it)."""
    if state is None or name != "UpsertDocument":
        return state
    return {**state, CONTENT_LANE: route.value}


def lane_headers(lane: Lane, route: Lane) -> list[tuple[str, bytes]]:
    """Headers that carry the lanes from the event to its chunks and embeddings; none for the
    interactive lane, so records look as they did before lanes existed."""
    headers = [(LANE_HEADER, lane.value.encode())] if lane is Lane.BULK else []
    if route is not lane:
        headers.append((ROUTE_HEADER, route.value.encode()))
    return headers


def lanes_of(headers: Headers) -> tuple[Lane, Lane]:
    """(lane, route) of a record carrying `lane_headers` (route defaults to the lane)."""
    pairs = list(headers.items() if isinstance(headers, Mapping) else headers or ())
    lane = header_lane(pairs)
    routed = any(key == ROUTE_HEADER for key, _ in pairs)
    return lane, header_lane(pairs, ROUTE_HEADER) if routed else lane


def interactive_first(events: Iterable[T], route: Callable[[T], Lane]) -> list[T]:
    """The events routed to the interactive chunks topic first, then the rest, each group in its
    own order: what goes to one topic keeps its order (a document's changes in one lane stay in
    sequence), and nothing orders one topic's records against the other's anyway. An edit caught in
    a batch behind a bulk import's documents is then not chunked after all of them."""
    items = list(events)
    first = [e for e in items if route(e) is Lane.INTERACTIVE]
    return first + [e for e in items if route(e) is not Lane.INTERACTIVE]


def carried(headers: Iterable[tuple[str, Any]] | Mapping[str, Any] | None) -> list[tuple[str, bytes]]:
    """The lane headers of an input record, to copy onto its output."""
    return lane_headers(*lanes_of(headers))


class ModelTurns:
    """One model call at a time, and bulk work only while the interactive lane has none in hand.

    Giving the next turn to whoever waits is not enough: when an interactive call ends, its agent
    is still writing that batch's output while the bulk agent already waits, and the next edits
    would wait for a whole bulk call each time. So the bulk lane also waits while the interactive
    lane holds a batch (`lane_idle`, told by its queue); an edit waits for at most the one bulk call
    already running. (Two calls at once would only share the same cores.) Under edits that keep the
    model busy all the time, bulk work waits for a pause: edits come first by design.
    """

    def __init__(self) -> None:
        self._busy = False
        self._interactive_idle = True
        self._interactive_waiting = 0
        self._waiters: list[asyncio.Future[None]] = []

    def lane_idle(self, lane: Lane, idle: bool) -> None:
        """Whether `lane` waits for input with nothing in hand (only the interactive lane counts)."""
        if lane is Lane.INTERACTIVE:
            self._interactive_idle = idle
            if idle:
                self._wake()

    def _free_for(self, lane: Lane) -> bool:
        if self._busy:
            return False
        return lane is Lane.INTERACTIVE or (self._interactive_idle and not self._interactive_waiting)

    @contextlib.asynccontextmanager
    async def turn(self, lane: Lane) -> AsyncIterator[None]:
        interactive = lane is Lane.INTERACTIVE
        self._interactive_waiting += interactive
        try:
            while not self._free_for(lane):
                woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._waiters.append(woken)
                try:
                    await woken
                finally:
                    if woken in self._waiters:
                        self._waiters.remove(woken)
        finally:
            self._interactive_waiting -= interactive
        self._busy = True
        try:
            yield
        finally:
            self._busy = False
            self._wake()

    def _wake(self) -> None:
        # Everyone checks again; a bulk waiter finds the turn taken by an interactive one or waits on.
        waiters, self._waiters = self._waiters, []
        for woken in waiters:
            if not woken.done():
                woken.set_result(None)
