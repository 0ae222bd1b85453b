"""Admin endpoints of the query API: replay, blue/green rebuild, generations, query history.

They act on the whole node (every tenant), so with auth on they need the `admin` scope.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ragstream.http import IdentityDep
from ragstream.identifiers import TENANT_PATTERN
from ragstream.queries.admin.jobs import AdminConflict, AdminInvalid, AdminNotFound, Job
from ragstream.queries.admin.manager import IndexManager
from ragstream.queries.admin.querylog import QueryLog
from ragstream.settings import Settings


def require_admin(request: Request, identity: IdentityDep) -> None:
    """With auth on, only an identity holding the `admin` scope; the dev profile trusts everyone."""
    settings: Settings = request.app.state.settings
    if settings.auth.enabled:
        identity.require("admin")


router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(require_admin)])
ReadModel = Literal["lexical", "vector", "all"]
T = TypeVar("T")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReplayIn(_Body):
    read_model: ReadModel = "all"
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


class JobOut(BaseModel):
    id: str
    kind: str
    read_model: str
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


def get_admin(request: Request) -> IndexManager:
    admin: IndexManager = request.app.state.admin
    return admin


def get_query_log(request: Request) -> QueryLog | None:
    return getattr(request.app.state, "query_log", None)


AdminDep = Annotated[IndexManager, Depends(get_admin)]


def _out(job: Job) -> JobOut:
    return JobOut(**{k: v for k, v in asdict(job).items() if k in JobOut.model_fields})


async def _checked(call: Awaitable[T]) -> T:
    try:
        return await call
    except AdminConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except AdminInvalid as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except AdminNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


@router.post("/replay", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
async def replay(body: ReplayIn, admin: AdminDep) -> JobOut:
    async def start() -> Job:
        return admin.start_replay(body.read_model, body.from_offset, body.from_time)

    return _out(await _checked(start()))


@router.post("/rebuild", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
async def rebuild(body: RebuildIn, admin: AdminDep, identity: IdentityDep) -> JobOut:
    chunking = {
        "max_tokens": body.chunk_max_tokens,
        "overlap_tokens": body.chunk_overlap_tokens,
        "min_tokens": body.chunk_min_tokens,
    }
    job = await _checked(
        admin.start_rebuild(
            body.read_model, body.embedding_model, body.embedding_model_path, chunking, identity.subject
        )
    )
    return _out(job)


@router.get("/jobs", response_model=list[JobOut])
async def jobs(admin: AdminDep) -> list[JobOut]:
    return [_out(j) for j in admin.jobs.all()]


@router.get("/jobs/{job_id}", response_model=JobOut)
async def job(job_id: str, admin: AdminDep) -> JobOut:
    found = admin.jobs.get(job_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id!r}")
    return _out(found)


@router.get("/generations")
async def generations(admin: AdminDep) -> dict[str, Any]:
    return {"live": admin.feed.generation.name, "generations": admin.generations()}


@router.post("/generations/drop-old")
async def drop_old(admin: AdminDep) -> dict[str, list[str]]:
    return {"dropped": await _checked(admin.drop_old())}


@router.delete("/generations/{name}")
async def drop(name: str, admin: AdminDep) -> dict[str, list[str]]:
    await _checked(admin.drop(name))
    return {"dropped": [name]}


@router.delete("/embedding-generations/{generation_id}", status_code=status.HTTP_202_ACCEPTED)
async def retire_embedding_generation(
    generation_id: Annotated[str, Path(pattern=r"^e[0-9a-f]{12}$")], admin: AdminDep
) -> dict[str, str]:
    """The stream workers stop building the embedding generation (its topic stays)."""
    await _checked(admin.retire_embedding_generation(generation_id))
    return {"retired": generation_id}


@router.get("/query-log")
async def query_log(
    request: Request,
    tenant: Annotated[str | None, Query(pattern=TENANT_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    log = get_query_log(request)
    if log is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the query log is not enabled")
    return {"retention_days": log.retention_days, "entries": await log.recent(tenant, limit)}
