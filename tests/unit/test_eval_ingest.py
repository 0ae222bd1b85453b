"""What names an evaluation's ingest: a rerun reuses it only when nothing that shapes its vectors changed."""

from __future__ import annotations

import pytest

from ragstream.bench.eval.beir import CorpusDocument, Dataset
from ragstream.bench.eval.ingest import eval_tag
from ragstream.embedding.backends import auto_backend, candidate_backends
from ragstream.settings import ChunkingSettings

pytestmark = pytest.mark.unit
DATASET = Dataset(
    "tiny", "test", [CorpusDocument("d1", "Title", "Some text.")], {"q": "text"}, {"q": {"d1": 1}}
)
CHUNKING = ChunkingSettings()


def test_the_same_corpus_chunking_model_and_backend_name_the_same_ingest() -> None:
    assert eval_tag(DATASET, CHUNKING, "m", "onnx-fp32") == eval_tag(DATASET, CHUNKING, "m", "onnx-fp32")


def test_another_encoder_backend_is_another_ingest() -> None:
    # Vectors of two backends differ; an eval of torch-fp32 must not score the ONNX ingest.
    tags = {eval_tag(DATASET, CHUNKING, "m", b) for b in ("onnx-fp32", "torch-fp32", "torch-bf16")}
    assert len(tags) == 3


def test_auto_is_the_ingest_of_the_backend_the_workers_resolve_it_to_on_this_cpu() -> None:
    # On an AMX CPU "auto" embeds with bf16, elsewhere with ONNX: one name, two kinds of vectors.
    resolved = candidate_backends("auto", role="passages")[0].name
    assert auto_backend("passages") == resolved
    assert eval_tag(DATASET, CHUNKING, "m") == eval_tag(DATASET, CHUNKING, "m", resolved)


def test_chunking_model_and_corpus_still_name_the_ingest() -> None:
    base = eval_tag(DATASET, CHUNKING, "m")
    smaller = ChunkingSettings(max_tokens=64, overlap_tokens=8)
    edited = Dataset("tiny", "test", [CorpusDocument("d1", "Title", "Other text.")], {}, {})
    assert (
        len(
            {
                base,
                eval_tag(DATASET, smaller, "m"),
                eval_tag(DATASET, CHUNKING, "m2"),
                eval_tag(edited, CHUNKING, "m"),
            }
        )
        == 4
    )
