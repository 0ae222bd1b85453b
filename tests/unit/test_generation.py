"""Generations on disk and the replay rules of the projector, on the real embedded indexes."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ragstream.queries.indexing.generation import (
    Generation,
    GenerationError,
    Manifest,
    current_generation,
    disk_bytes,
    drop_generation,
    list_generations,
    next_generation_name,
    read_manifest,
    set_current_generation,
    write_manifest,
)
from ragstream.queries.readmodels.base import SearchFilter
from ragstream.records import LogRecord

pytestmark = pytest.mark.unit
DIM = 4
_offset = iter(range(10_000))


def embedded(doc: str, version: int, words: list[str], model: str = "m") -> LogRecord:
    chunks = [
        {
            "chunk_number": i,
            "text": w,
            "start": 0,
            "end": len(w),
            "vector": [1.0, float(i), 0.0, float(version)],
        }
        for i, w in enumerate(words)
    ]
    record = {"tenant": "t", "document_id": doc, "version": version, "content_version": version, "title": "",
              "metadata": {}, "acl": [], "chunks": chunks, "model": model, "command_position": f"c/0/{version}",
              "event_time": datetime.now(UTC)}  # fmt: skip
    return LogRecord("DocumentEmbedded", record, "emb", 0, next(_offset))


def deleted(doc: str, version: int) -> LogRecord:
    record = {"tenant": "t", "document_id": doc, "version": version, "command_position": ""}
    return LogRecord("DocumentDeleted", record, "emb", 0, next(_offset))


@pytest.fixture
def generation(tmp_path: Path) -> Any:
    gen = Generation.open(tmp_path, "g1", DIM)
    yield gen
    gen.close()


def chunks(gen: Generation, doc: str) -> tuple[list[str], list[str]]:
    p = gen.projector
    return p.keyword.chunk_ids("t", doc), p.vector.chunk_ids("t", doc)


def test_replay_reapplies_only_the_held_version_and_twice_equals_once(generation: Generation) -> None:
    history = [
        embedded("a", 1, ["old", "words"]),
        embedded("a", 2, ["new"]),
        embedded("b", 1, ["bee"]),
        deleted("b", 2),
    ]
    generation.projector.apply_batch(history)
    before = chunks(generation, "a"), chunks(generation, "b"), generation.projector.keyword.count()
    first = generation.projector.reapply_batch(history, ("lexical", "vector"))
    assert [(d, v) for _, d, v, _ in first.applied] == [("a", 2), ("b", 2)] and first.skipped == 2
    assert (chunks(generation, "a"), chunks(generation, "b"), generation.projector.keyword.count()) == before
    second = generation.projector.reapply_batch(history, ("lexical", "vector"))
    assert (second.applied, second.skipped) == (first.applied, first.skipped)
    assert chunks(generation, "a") == (["a#v2#c0"], ["a#v2#c0"]) and chunks(generation, "b") == ([], [])


def test_replay_of_one_read_model_repairs_it_and_leaves_the_other_alone(generation: Generation) -> None:
    history = [embedded("a", 1, ["alpha", "beta"])]
    generation.projector.apply_batch(history)
    generation.projector.vector.delete_document("t", "a")  # a damaged vector index
    generation.projector.reapply_batch(history, ("lexical",))
    assert chunks(generation, "a") == (["a#v1#c0", "a#v1#c1"], [])
    generation.projector.reapply_batch(history, ("vector",))
    assert chunks(generation, "a") == (["a#v1#c0", "a#v1#c1"], ["a#v1#c0", "a#v1#c1"])


def test_replay_never_advances_past_the_live_feed(generation: Generation) -> None:
    generation.projector.apply_batch([embedded("a", 1, ["one"])])
    result = generation.projector.reapply_batch([embedded("a", 2, ["two"])], ("lexical",))
    assert result.applied == [] and generation.projector.state.version("t", "a") == 1
    hits = generation.projector.keyword.search("two", SearchFilter(tenant="t"), 10)
    assert hits == []


def test_apply_reports_when_each_read_model_flushed(generation: Generation) -> None:
    result = generation.projector.apply_batch([embedded("a", 1, ["one"])])
    assert set(result.flushed_at) == {"lexical", "vector"}


def test_manifest_round_trip_and_generation_names(tmp_path: Path) -> None:
    assert next_generation_name(tmp_path) == "g1" and list_generations(tmp_path) == []
    for name in ("g1", "g2", "g10"):
        write_manifest(tmp_path, Manifest.new(name, "rebuild", "all", "m", None, DIM, source="emb"))
    assert list_generations(tmp_path) == ["g1", "g2", "g10"] and next_generation_name(tmp_path) == "g11"
    manifest = read_manifest(tmp_path, "g2")
    assert manifest is not None and (manifest.embedding_model, manifest.complete) == ("m", False)
    assert read_manifest(tmp_path, "g7") is None
    with pytest.raises(GenerationError):
        read_manifest(tmp_path, "../etc")


def test_current_pointer_swaps_atomically_and_protects_the_live_generation(tmp_path: Path) -> None:
    for name in ("g1", "g2"):
        write_manifest(tmp_path, Manifest.new(name, "initial", "all", "m", None, DIM, source="emb"))
    set_current_generation(tmp_path, "g1")
    set_current_generation(tmp_path, "g2")
    assert current_generation(tmp_path) == "g2" and not (tmp_path / "CURRENT.tmp").exists()
    with pytest.raises(GenerationError):
        drop_generation(tmp_path, "g2")
    drop_generation(tmp_path, "g1")
    assert list_generations(tmp_path) == ["g2"]
    with pytest.raises(GenerationError):
        drop_generation(tmp_path, "g1")


def test_disk_bytes_counts_what_stays_while_the_indexes_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The indexes create and remove temporary files and folders while a listing counts them.
    (tmp_path / "kept").write_bytes(b"x" * 10)
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "b").write_bytes(b"x" * 5)
    (tmp_path / "folder" / "gone").write_bytes(b"x" * 7)
    (tmp_path / ".atomicwrite1").mkdir()
    (tmp_path / ".atomicwrite1" / "c").write_bytes(b"x" * 3)
    assert disk_bytes(tmp_path) == 25

    real_scandir, real_stat = os.scandir, os.stat

    def scandir(path: Any) -> Any:
        if Path(path).name == ".atomicwrite1":
            raise FileNotFoundError(path)  # listed by its parent, removed before it was read
        return real_scandir(path)

    def stat(path: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(path).name == "gone":
            raise FileNotFoundError(path)  # listed, removed before its size was read
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "stat", stat)
    assert disk_bytes(tmp_path) == 15
