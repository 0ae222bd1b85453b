"""The edit lane: which chunks topic a change takes, whose turn the model is, and read-your-writes
tokens that name the lane their write went through."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from ragstream.contracts import WritePosition, consistency_token
from ragstream.queries.consistency import parse_token
from ragstream.queries.exceptions import InvalidConsistencyToken
from ragstream.settings import EmbeddingSettings
from ragstream.streams.lanes import (
    ModelTurns,
    carried,
    event_lanes,
    interactive_first,
    lane_headers,
    lanes_of,
    passages_per_call,
    with_content_lane,
)
from ragstream.streams.stages import EmbeddingStage
from ragstream.topics import LANE_HEADER, Lane, catalogue, header_lane, key_lane, position_key

pytestmark = pytest.mark.unit
BULK, INTERACTIVE = Lane.BULK, Lane.INTERACTIVE


def test_an_unmarked_command_is_interactive_and_a_marked_one_bulk() -> None:
    assert header_lane([("type", b"UpsertDocument")]) is INTERACTIVE
    assert header_lane(None) is INTERACTIVE
    assert header_lane([(LANE_HEADER, b"bulk")]) is BULK
    assert header_lane({LANE_HEADER: "bulk"}) is BULK
    assert header_lane([(LANE_HEADER, b"express")]) is INTERACTIVE  # unknown: never the slow lane


def test_upserts_and_deletes_take_the_lane_their_producer_asked_for() -> None:
    bulk_content = with_content_lane("UpsertDocument", {"version": 1}, BULK)
    assert event_lanes("UpsertDocument", BULK, None) == (BULK, BULK)
    assert event_lanes("UpsertDocument", INTERACTIVE, bulk_content) == (INTERACTIVE, INTERACTIVE)
    # A delete may overtake its document's bulk content: the read models skip the older upsert.
    assert event_lanes("DeleteDocument", INTERACTIVE, bulk_content) == (INTERACTIVE, INTERACTIVE)


def test_an_access_change_follows_its_documents_content_into_the_bulk_lane() -> None:
    # It carries no content: overtaking a bulk upsert would make that upsert stale and lose it.
    state = with_content_lane("UpsertDocument", {"version": 1}, BULK)
    assert event_lanes("UpdateDocumentAccess", INTERACTIVE, state) == (INTERACTIVE, BULK)
    edited = with_content_lane("UpsertDocument", {"version": 2}, INTERACTIVE)
    assert event_lanes("UpdateDocumentAccess", INTERACTIVE, edited) == (INTERACTIVE, INTERACTIVE)
    # The access change's own state keeps the content's lane; a rejection leaves the state alone.
    assert with_content_lane("UpdateDocumentAccess", dict(state, version=2), INTERACTIVE) == dict(
        state, version=2
    )
    assert with_content_lane("UpsertDocument", None, BULK) is None


def test_lane_headers_travel_from_event_to_chunks_to_embeddings() -> None:
    assert lane_headers(INTERACTIVE, INTERACTIVE) == []  # records look as they did before lanes
    for lane, route in [(BULK, BULK), (INTERACTIVE, BULK), (INTERACTIVE, INTERACTIVE)]:
        headers = [("traceparent", b"00-x"), *lane_headers(lane, route)]
        assert lanes_of(headers) == (lane, route)
        assert lanes_of(carried(headers)) == (lane, route)
        assert lanes_of(dict(carried(headers))) == (lane, route)


def test_a_chunk_batch_takes_its_edits_first_and_keeps_each_lanes_order() -> None:
    routes = {"bulk-1": Lane.BULK, "edit-1": Lane.INTERACTIVE, "bulk-2": Lane.BULK,
              "access-of-bulk-1": Lane.BULK, "edit-2": Lane.INTERACTIVE}  # fmt: skip
    events = [(name, lane_headers(Lane.INTERACTIVE, route)) for name, route in routes.items()]
    ordered = interactive_first(events, lambda event: lanes_of(event[1])[1])
    assert [name for name, _ in ordered] == ["edit-1", "edit-2", "bulk-1", "bulk-2", "access-of-bulk-1"]


def test_each_lane_has_a_chunks_topic_of_its_own_in_the_catalogue() -> None:
    topics = catalogue("p")
    assert topics.chunks_of(INTERACTIVE).name == "p.document-chunks"
    assert topics.chunks_of(BULK).name == "p.document-chunks.bulk"
    assert topics.bulk_chunks in topics.all()  # created with the others


def test_a_bulk_writes_token_names_its_lane_and_parses_back_to_its_own_key() -> None:
    edit = WritePosition(topic="c", partition=3, offset=120)
    imports = [WritePosition(topic="c", partition=3, offset=o, lane=BULK) for o in (90, 100)]
    assert edit.token == "3:120"  # unchanged for interactive writes and old clients
    assert imports[0].token == "3:90:bulk"
    token = consistency_token([edit, *imports])
    assert token == "3:120,3:100:bulk"
    assert parse_token(token) == {position_key(3, INTERACTIVE): 120, position_key(3, BULK): 100}
    assert key_lane(position_key(3, BULK)) == (3, BULK)
    assert WritePosition.model_validate({"topic": "c", "partition": 1, "offset": 2}).lane is INTERACTIVE


@pytest.mark.parametrize("token", ["3:1:express", "3:1:bulk:x", "-1:1:bulk", "3"])
def test_a_malformed_lane_in_a_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidConsistencyToken):
        parse_token(token)


async def test_a_waiting_interactive_batch_gets_the_model_before_waiting_bulk_batches() -> None:
    turns = ModelTurns()
    order: list[str] = []
    bulk_running = asyncio.Event()
    release = asyncio.Event()

    async def call(name: str, lane: Lane, hold: asyncio.Event | None = None) -> None:
        async with turns.turn(lane):
            order.append(name)
            if hold is not None:
                bulk_running.set()
                await hold.wait()

    first = asyncio.create_task(call("bulk-1", BULK, release))
    await bulk_running.wait()
    # Both wait while bulk-1 holds the model; the edit arrived after bulk-2 and still goes first.
    waiting = [asyncio.create_task(call("bulk-2", BULK)), asyncio.create_task(call("edit", INTERACTIVE))]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *waiting)
    assert order == ["bulk-1", "edit", "bulk-2"]


async def test_bulk_work_waits_while_the_interactive_lane_has_a_batch_in_hand() -> None:
    # The model is free, but the edit agent is between its call and its next one (writing output,
    # or about to call again): a bulk call now would make the next edits wait a whole call.
    turns = ModelTurns()
    turns.lane_idle(INTERACTIVE, False)
    bulk = asyncio.create_task(turns.turn(BULK).__aenter__())
    await asyncio.sleep(0.01)
    assert not bulk.done()
    async with turns.turn(INTERACTIVE):  # the edit agent's next call goes first
        assert not bulk.done()
    await asyncio.sleep(0.01)
    assert not bulk.done()
    turns.lane_idle(INTERACTIVE, True)  # its queue ran dry
    async with asyncio.timeout(1):
        await bulk


async def test_a_cancelled_waiter_does_not_keep_the_model_from_the_others() -> None:
    turns = ModelTurns()
    release = asyncio.Event()
    held = asyncio.Event()

    async def hold() -> None:
        async with turns.turn(BULK):
            held.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await held.wait()
    waiter = asyncio.create_task(turns.turn(INTERACTIVE).__aenter__())
    await asyncio.sleep(0)
    waiter.cancel()
    release.set()
    await holder
    async with asyncio.timeout(1):
        async with turns.turn(BULK):
            pass


def test_bulk_model_calls_have_a_cap_of_their_own_so_an_edit_waits_for_a_short_one() -> None:
    defaults = EmbeddingSettings()
    assert passages_per_call(defaults, BULK) < passages_per_call(defaults, INTERACTIVE)
    chosen = EmbeddingSettings(max_passages_per_call=64, bulk_passages_per_call=8)
    assert (passages_per_call(chosen, INTERACTIVE), passages_per_call(chosen, BULK)) == (64, 8)


async def test_an_edit_goes_between_two_calls_of_a_long_bulk_document() -> None:
    # A bulk document with more chunks than the bulk cap comes alone in its batch; its passages are
    # still embedded a cap at a time, each call its own turn, so an edit that arrives during the
    # first call waits for that one call, not for the whole document.
    turns = ModelTurns()
    calls: list[str] = []
    first_call = threading.Event()
    go_on = threading.Event()

    class SlowEmbedder:
        name, version, dimension = "slow", "1", 2

        def embed_passages(self, texts: Sequence[str]) -> Any:
            calls.append("edit" if texts[0].startswith("Edit") else f"bulk-{len(texts)}")
            if len(calls) == 1:
                first_call.set()
                go_on.wait(5)
            return np.zeros((len(texts), 2), dtype=np.float32)

        def embed_query(self, text: str) -> Any:
            return np.zeros(2, dtype=np.float32)

    def document(title: str, chunks: int) -> dict[str, Any]:
        return {"tenant": "t", "title": title,
                "chunks": [{"chunk_number": n, "text": f"{title} passage {n}.", "heading": ""} for n in range(chunks)]}  # fmt: skip

    stage = EmbeddingStage(SlowEmbedder(), None)
    bulk = asyncio.create_task(stage.embed([document("Bulk", 10)], per_call=4, turn=lambda: turns.turn(BULK)))
    await asyncio.to_thread(first_call.wait, 5)
    turns.lane_idle(INTERACTIVE, False)  # the edit's batch arrives
    edit = asyncio.create_task(stage.embed([document("Edit", 1)], turn=lambda: turns.turn(INTERACTIVE)))
    await asyncio.sleep(0.01)
    go_on.set()
    await edit
    turns.lane_idle(INTERACTIVE, True)
    await bulk
    assert calls == ["bulk-4", "edit", "bulk-4", "bulk-2"]
