"""Request and response bodies of the admin endpoints (replay, rebuild, jobs), split by role.

Kept apart from the routes so clients (ragstream.client) can use them without importing the index
manager behind the routes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ragstream.settings import ChunkTokenizer, EncoderBackend

ReadModel = Literal["lexical", "vector", "all"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReplayIn(_Body):
    read_model: ReadModel = "all"
    all_tenants: bool | None = Field(
        default=None,
        description="Every tenant's documents (needs `operator`) or only the caller's; default: every"
        " tenant's for an operator, the caller's otherwise",
    )
    from_offset: int | None = Field(default=None, ge=0, description="Per partition; default: the start")
    from_time: datetime | None = Field(default=None, description="ISO 8601; offsets found by timestamp")

    @model_validator(mode="after")
    def _one_start(self) -> ReplayIn:
        if self.from_offset is not None and self.from_time is not None:
            raise ValueError("give from_offset or from_time, not both")
        return self


class RebuildIn(_Body):
    read_model: ReadModel = "all"
    embedding_model: str | None = Field(default=None, max_length=256)
    embedding_model_path: str | None = Field(default=None, max_length=4096)
    # Another chunk budget or model: the stream workers build an embedding generation for it
    # (see ragstream.embedding.generation).
    chunk_max_tokens: int | None = Field(default=None, ge=1, le=8192)
    chunk_overlap_tokens: int | None = Field(default=None, ge=0, le=8192)
    chunk_min_tokens: int | None = Field(default=None, ge=0, le=8192)
    # What the budgets count, and how the workers and this node run the model (see
    # ragstream.settings); either one asks for an embedding generation of its own.
    chunk_tokenizer: ChunkTokenizer | None = None
    embedding_backend: EncoderBackend | None = None


class JobOut(BaseModel):
    id: str
    kind: str
    read_model: str
    tenant: str | None
    state: str
    phase: str
    total: int
    done: int
    applied: int
    skipped: int
    generation: str | None
    error: str
    detail: dict[str, Any]
    started_at: float
    finished_at: float | None
