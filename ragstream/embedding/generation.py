"""An embedding generation: the log chunked and embedded with a given chunk budget and model.

The stream workers' own settings define the live generation, written to the embeddings topic. A
rebuild that asks for another chunk budget or model is stream work too: the query node requests a
generation on the embedding-generations topic, the workers chunk and embed the events log into the
generation's own topic (and keep doing so for every later event), and query nodes build their
indexes from that topic without loading a passage encoder.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, get_args

from ragstream.settings import ChunkingSettings, ChunkTokenizer, EmbeddingSettings, Settings
from ragstream.topics import Topics

# What requests written before the budget's tokenizer and the encoder backend were part of a
# generation got from workers on default settings. Fields at these values stay out of the id, so
# those generations keep the names (and topics) they were given.
LEGACY_DEFAULTS: dict[str, str] = {"tokenizer": "model", "backend": "auto"}
TOKENIZERS: tuple[str, ...] = get_args(ChunkTokenizer)


@dataclass(frozen=True)
class EmbeddingGeneration:
    max_tokens: int
    overlap_tokens: int
    min_tokens: int
    embedding_model: str
    embedding_model_path: str | None = None
    # What chunk budgets are counted in ("model": the model's own tokens, or "estimate") and the
    # encoder backend the workers run the model with ("auto": each worker picks). Both change the
    # chunks or the vectors, so two generations that differ in either never share a topic.
    tokenizer: str = "model"
    backend: str = "auto"

    @classmethod
    def live(cls, settings: Settings) -> EmbeddingGeneration:
        """What the stream workers write to the embeddings topic under these settings."""
        c, e = settings.chunking, settings.embedding
        path = str(e.model_path) if e.model_path is not None else None
        return cls(c.max_tokens, c.overlap_tokens, c.min_tokens, e.model, path, c.tokenizer, e.backend)

    @property
    def id(self) -> str:
        """Deterministic: asking twice for the same generation names the same topic."""
        fields = {k: v for k, v in asdict(self).items() if LEGACY_DEFAULTS.get(k, object()) != v}
        canonical = json.dumps(fields, sort_keys=True)
        return "e" + hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def chunking(self) -> dict[str, int]:
        return {
            "max_tokens": self.max_tokens,
            "overlap_tokens": self.overlap_tokens,
            "min_tokens": self.min_tokens,
        }

    def topic(self, topics: Topics, settings: Settings) -> str:
        """The live generation is the embeddings topic itself; any other has a topic of its own."""
        if self == EmbeddingGeneration.live(settings):
            return topics.embeddings.name
        return topics.generation_embeddings(self.id).name

    def embedding_settings(self, base: EmbeddingSettings) -> EmbeddingSettings:
        path = Path(self.embedding_model_path) if self.embedding_model_path else None
        return base.model_copy(
            update={"model": self.embedding_model, "model_path": path, "backend": self.backend}
        )

    def chunking_settings(self, base: ChunkingSettings) -> ChunkingSettings:
        """The settings a worker counts this generation's budgets with (the tokenizer is the
        generation's, whatever the worker's own)."""
        return base.model_copy(update={"tokenizer": self.tokenizer})

    def request(self, requested_by: str, now: datetime) -> dict[str, Any]:
        """The RequestEmbeddingGeneration record."""
        return {
            "schema_version": 2,
            "generation_id": self.id,
            **asdict(self),
            "requested_by": requested_by,
            "requested_time": now,
        }

    @classmethod
    def from_request(cls, record: dict[str, Any]) -> EmbeddingGeneration:
        """Raises ValueError for a tokenizer no worker knows (any producer may write requests)."""
        tokenizer = record.get("tokenizer") or LEGACY_DEFAULTS["tokenizer"]
        if tokenizer not in TOKENIZERS:
            raise ValueError(f"unknown chunk tokenizer {tokenizer!r}; one of {', '.join(TOKENIZERS)}")
        return cls(
            int(record["max_tokens"]),
            int(record["overlap_tokens"]),
            int(record["min_tokens"]),
            str(record["embedding_model"]),
            record.get("embedding_model_path"),
            # Absent from v1 requests: the defaults (budgets in model tokens, each worker's backend).
            str(tokenizer),
            str(record.get("backend") or LEGACY_DEFAULTS["backend"]),
        )
