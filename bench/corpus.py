"""Benchmark corpora: Python's bundled documentation topics (real prose and code, offline), made as
large as needed by marking each document's lines so that no chunk text repeats (a repeated chunk is
served from the embedding cache and would flatter the pipeline)."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from ragstream.commands.corpus import pydoc_topic_commands
from ragstream.contracts import UpsertDocument
from ragstream.settings import ChunkingSettings
from ragstream.streams.chunking import chunk_document
from ragstream.streams.stages import chunking_config

TENANT = "default"
ACTOR = "ragstream-bench"
_LINE_END = re.compile(r"(\S)$", re.MULTILINE)


def _variant(text: str, number: int) -> str:
    # A per-document marker at the end of every line makes every chunk unique (prose and code alike;
    # some pydoc topics share whole sections), yet keeps the text's structure and nearly its length.
    return _LINE_END.sub(rf"\1 r{number}", text)


def documents(count: int, *, prefix: str = "doc") -> list[UpsertDocument]:
    """`count` distinct documents: the pydoc topics, then rewritten copies of them."""
    base = list(pydoc_topic_commands(tenant=TENANT, actor=ACTOR))
    out: list[UpsertDocument] = []
    for i in range(count):
        copy, source = divmod(i, len(base))
        original = base[source]
        out.append(
            original.model_copy(
                update={
                    "document_id": f"{prefix}/{copy}/{original.document_id}",
                    "content": _variant(original.content, i),
                    "title": original.title + (f" (copy {copy})" if copy else ""),
                    "actor": ACTOR,
                    "source": {"via": "bench"},
                }
            )
        )
    return out


def resend(commands: Sequence[UpsertDocument]) -> list[UpsertDocument]:
    """The same documents as new commands (new ids and times): what a periodic full re-sync sends."""
    return [
        UpsertDocument(**c.model_dump(exclude={"command_id", "event_time", "avro_name"})) for c in commands
    ]


def edit_fraction(commands: Sequence[UpsertDocument], fraction: float, seed: int = 7) -> list[UpsertDocument]:
    """Re-sends every document, with one paragraph changed in `fraction` of them (a typical small edit)."""
    rng = random.Random(seed)
    chosen = set(rng.sample(range(len(commands)), max(1, round(fraction * len(commands)))))
    out = resend(commands)
    for i in chosen:
        paragraphs = out[i].content.split("\n\n")
        middle = len(paragraphs) // 2
        paragraphs[middle] = paragraphs[middle] + f" This paragraph was revised (edit {i})."
        out[i] = out[i].model_copy(update={"content": "\n\n".join(paragraphs)})
    return out


def chunk_texts(commands: Sequence[UpsertDocument], chunking: ChunkingSettings) -> list[str]:
    """The chunk texts the stream workers will embed, from the same chunker and settings."""
    config = chunking_config(chunking)
    return [
        span.text for c in commands for span in chunk_document(c.content, c.content_type.value, config)[1]
    ]
