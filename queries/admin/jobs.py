"""Long-running admin jobs (replays, rebuilds) run as tasks of the query process; clients poll them."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("ragstream.queries.admin")
READ_MODEL_CHOICES = {"lexical": ("lexical",), "vector": ("vector",), "all": ("lexical", "vector")}


class AdminConflict(Exception):
    """The request clashes with the node's state (a job already running, dropping the live generation)."""


class AdminInvalid(Exception):
    """The request cannot be carried out as asked (an unknown model, a model for the lexical index)."""


class AdminNotFound(Exception):
    pass


@dataclass
class Job:
    kind: str  # replay or rebuild
    read_model: str
    # The one tenant whose documents a replay re-applies; None: every tenant (rebuilds always).
    tenant: str | None = None
    # The tenant that started it (told when it finishes, if it subscribed); "" for none.
    owner: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: str = "running"  # running, done or failed
    phase: str = "starting"
    # Log records: how many the job has to read and has read so far (a rebuild's total grows with
    # live writes); `applied` / `skipped` are events re-applied or left alone by the version guard.
    total: int = 0
    done: int = 0
    applied: int = 0
    skipped: int = 0
    generation: str | None = None
    error: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    @property
    def running(self) -> bool:
        return self.state == "running"


# Told of every job that ended (done or failed), e.g. to notify its owner.
JobHook = Callable[[Job], Awaitable[None]]


class JobRegistry:
    """Keeps the last jobs for polling; their tasks are cancelled when the process stops."""

    def __init__(self, keep: int = 50, *, on_finished: JobHook | None = None) -> None:
        self._jobs: dict[str, Job] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._keep = keep
        self._on_finished = on_finished

    def start(self, job: Job, work: Callable[[Job], Awaitable[None]]) -> Job:
        self._jobs[job.id] = job
        for old in list(self._jobs)[: max(0, len(self._jobs) - self._keep)]:
            if not self._jobs[old].running:
                del self._jobs[old]
        self._tasks[job.id] = asyncio.create_task(self._run(job, work), name=f"{job.kind}-{job.id}")
        return job

    async def _run(self, job: Job, work: Callable[[Job], Awaitable[None]]) -> None:
        try:
            await work(job)
            job.state, job.phase = "done", "done"
        except asyncio.CancelledError:
            job.state, job.error = "failed", "cancelled: the query process stopped"
            raise
        except Exception as exc:
            log.exception("%s job %s failed", job.kind, job.id)
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            job.finished_at = time.time()
            self._tasks.pop(job.id, None)
        if self._on_finished is not None:
            try:
                await self._on_finished(job)
            except Exception:  # telling someone must never turn a finished job into a failed one
                log.exception("after %s job %s", job.kind, job.id)

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return list(self._jobs.values())

    def running(self, kind: str) -> Job | None:
        return next((j for j in self._jobs.values() if j.kind == kind and j.running), None)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
