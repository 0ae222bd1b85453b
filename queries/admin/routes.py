"""Admin endpoints of the query API: replay, blue/green rebuild, generations, query history.

`admin` is tenant-scoped: its own tenant's query log, replays of its own tenant's documents and its
jobs. What spans tenants (rebuilds, generations, the node's status, every tenant's log and replays)
needs `operator`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import asdict
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status

from ragstream.auth import OPERATOR, Identity
from ragstream.http.jsonbody import StrictJSONRoute
from ragstream.http.security import Admin, Operator, require_operator, throttle
from ragstream.http.service import COMMON_ERRORS, error_responses
from ragstream.identifiers import TENANT_PATTERN
from ragstream.queries.admin.jobs import AdminConflict, AdminInvalid, AdminNotFound, Job
from ragstream.queries.admin.manager import IndexManager
from ragstream.queries.admin.querylog import QueryLog
from ragstream.queries.admin.schemas import JobOut, RebuildIn, ReplayIn

router = APIRouter(
    prefix="/v1/admin", tags=["admin"], route_class=StrictJSONRoute, dependencies=[Depends(throttle)],
    responses=error_responses(*COMMON_ERRORS, 404, 409, 413, 503),
)  # fmt: skip
T = TypeVar("T")


async def get_admin(request: Request) -> IndexManager:
    admin: IndexManager = request.app.state.admin
    return admin


def get_query_log(request: Request) -> QueryLog | None:
    return getattr(request.app.state, "query_log", None)


AdminDep = Annotated[IndexManager, Depends(get_admin)]


def _out(job: Job) -> JobOut:
    return JobOut.model_validate(asdict(job))


async def _checked(call: Awaitable[T]) -> T:
    try:
        return await call
    except AdminConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except AdminInvalid as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except AdminNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


def _visible(job: Job, identity: Identity) -> bool:
    return identity.has(OPERATOR) or job.tenant == identity.tenant


@router.post("/replay", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
async def replay(body: ReplayIn, admin: AdminDep, identity: Admin) -> JobOut:
    all_tenants = identity.has(OPERATOR) if body.all_tenants is None else body.all_tenants
    if all_tenants:
        identity.require(OPERATOR)

    async def start() -> Job:
        tenant = None if all_tenants else identity.tenant
        return admin.start_replay(
            body.read_model, body.from_offset, body.from_time, tenant, owner=identity.tenant
        )

    return _out(await _checked(start()))


@router.post("/rebuild", status_code=status.HTTP_202_ACCEPTED, response_model=JobOut)
async def rebuild(body: RebuildIn, admin: AdminDep, identity: Operator) -> JobOut:
    chunking = {
        "max_tokens": body.chunk_max_tokens,
        "overlap_tokens": body.chunk_overlap_tokens,
        "min_tokens": body.chunk_min_tokens,
    }
    job = await _checked(
        admin.start_rebuild(
            body.read_model,
            body.embedding_model,
            body.embedding_model_path,
            chunking,
            identity.subject,
            owner=identity.tenant,
            tokenizer=body.chunk_tokenizer,
            backend=body.embedding_backend,
        )
    )
    return _out(job)


@router.get("/jobs", response_model=list[JobOut])
async def jobs(admin: AdminDep, identity: Admin) -> list[JobOut]:
    return [_out(j) for j in admin.jobs.all() if _visible(j, identity)]


@router.get("/jobs/{job_id}", response_model=JobOut)
async def job(job_id: str, admin: AdminDep, identity: Admin) -> JobOut:
    found = admin.jobs.get(job_id)
    if found is None or not _visible(found, identity):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id!r}")
    return _out(found)


@router.get("/status", dependencies=[Depends(require_operator)])
async def node_status(admin: AdminDep) -> dict[str, Any]:
    """The live generation and what the read models hold, over every tenant."""
    return await admin.status()


@router.get("/generations", dependencies=[Depends(require_operator)])
async def generations(admin: AdminDep) -> dict[str, Any]:
    return {"live": admin.feed.generation.name, "generations": admin.generations()}


@router.post("/generations/drop-old", dependencies=[Depends(require_operator)])
async def drop_old(admin: AdminDep) -> dict[str, list[str]]:
    return {"dropped": await _checked(admin.drop_old())}


@router.delete("/generations/{name}", dependencies=[Depends(require_operator)])
async def drop(name: Annotated[str, Path(max_length=64)], admin: AdminDep) -> dict[str, list[str]]:
    await _checked(admin.drop(name))
    return {"dropped": [name]}


@router.delete(
    "/embedding-generations/{generation_id}",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Depends(require_operator)],
)
async def retire_embedding_generation(
    generation_id: Annotated[str, Path(pattern=r"^e[0-9a-f]{12}$")], admin: AdminDep
) -> dict[str, str]:
    """The stream workers stop building the embedding generation (its topic stays)."""
    await _checked(admin.retire_embedding_generation(generation_id))
    return {"retired": generation_id}


@router.get("/query-log")
async def query_log(
    request: Request,
    identity: Admin,
    tenant: Annotated[
        str | None,
        Query(pattern=TENANT_PATTERN, description="Default: the caller's; every tenant's for an operator"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    identity.require_tenant(tenant)
    log = get_query_log(request)
    if log is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the query log is not enabled")
    if tenant is None and not identity.has(OPERATOR):
        tenant = identity.tenant
    return {"retention_days": log.retention_days, "entries": await log.recent(tenant, limit)}
