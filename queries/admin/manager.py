"""The query node's index administration: replays, blue/green rebuilds and the generations on disk.

Lives in the query process because the embedded indexes have a single writer: the process that
serves queries. One replay or rebuild runs at a time; a replay writes into the live generation, so
it must not race a swap.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict
from datetime import datetime
from typing import Any

from ragstream.codec import Codec
from ragstream.embedding import Embedder
from ragstream.queries.admin.generations import EmbeddingGenerations
from ragstream.queries.admin.jobs import (
    READ_MODEL_CHOICES,
    AdminConflict,
    AdminInvalid,
    AdminNotFound,
    Job,
    JobHook,
    JobRegistry,
)
from ragstream.queries.admin.rebuild import RebuildPlan, catch_up_paused, plan_generation, rebuild
from ragstream.queries.admin.replay import replay
from ragstream.queries.indexing.feed import IndexFeed
from ragstream.queries.indexing.generation import (
    Generation,
    GenerationError,
    Manifest,
    current_generation,
    disk_bytes,
    drop_generation,
    list_generations,
    read_manifest,
    set_current_generation,
    write_manifest,
)
from ragstream.queries.readmodels.shared import local_read_models, shared_read_models
from ragstream.queries.registry import RegistryStore
from ragstream.queries.registry.shared_state import SharedIndexState
from ragstream.queries.service import QueryService
from ragstream.settings import Settings

# A retired generation stays open this long after a swap: searches that picked it up just before
# the swap finish on it instead of failing on a closed index.
RETIRE_GRACE_S = 10.0


class IndexManager:
    def __init__(
        self,
        settings: Settings,
        service: QueryService,
        registry: RegistryStore,
        codec: Codec,
        *,
        on_job_finished: JobHook | None = None,
    ) -> None:
        self._settings = settings
        self.root = settings.index.data_dir
        self.service = service
        self._registry = registry
        self._codec = codec
        self.embedding_generations = EmbeddingGenerations(settings, codec)
        self.jobs = JobRegistry(on_finished=on_job_finished)
        self._swap_lock = asyncio.Lock()
        self._retired: dict[str, Generation] = {}
        self._closers: set[asyncio.Task[None]] = set()

    @property
    def feed(self) -> IndexFeed:
        return self.service.feed

    def _held_here(self, read_model: str, action: str) -> None:
        """Replays and rebuilds act on this node's embedded read models; a server read model is
        projected by the stream workers (only the OpenSearch keyword index has a rebuild here)."""
        shared = [m for m in READ_MODEL_CHOICES[read_model] if m in shared_read_models(self._settings)]
        if shared and read_model != "all":
            raise AdminConflict(
                f"the {read_model} read model is served by a server backend, not by this node;"
                f" it cannot be {action} here"
            )

    def start_shared_rebuild(self, *, owner: str = "") -> Job:
        """Rebuild the OpenSearch keyword index into its next generation and swap the alias."""
        from ragstream.queries.admin.shared_rebuild import SharedKeywordRebuild  # the opensearch extra

        self._exclusive(None)
        rebuild = SharedKeywordRebuild(self._settings, self._codec, SharedIndexState.of(self._registry))
        return self.jobs.start(Job("rebuild", "lexical", owner=owner), rebuild.run)

    def _exclusive(self, tenant: str | None) -> None:
        """One job at a time; `tenant` is who asks (None: an operator), who may learn only of its own."""
        busy = self.jobs.running("rebuild") or self.jobs.running("replay")
        if busy is None:
            return
        if tenant is not None and busy.tenant != tenant:
            raise AdminConflict("another replay or rebuild is running on this node; try again later")
        raise AdminConflict(f"{busy.kind} {busy.id} is running; wait for it or poll /v1/admin/jobs/{busy.id}")

    def start_replay(
        self,
        read_model: str,
        from_offset: int | None,
        from_time: datetime | None,
        tenant: str | None,
        *,
        owner: str = "",
    ) -> Job:
        """Re-apply the log to the read models, for one tenant's documents or (None) every tenant's."""
        self._exclusive(tenant)
        self._held_here(read_model, "replayed")
        feed = self.feed
        job = Job("replay", read_model, tenant=tenant, generation=feed.generation.name, owner=owner)
        return self.jobs.start(
            job,
            lambda j: replay(
                j, kafka=self._settings.kafka, topic=feed.topic, codec=self._codec,
                projector=feed.generation.projector, read_models=READ_MODEL_CHOICES[read_model],
                target=feed.next_offsets(), from_offset=from_offset, from_time=from_time, tenant=tenant,
            ),
        )  # fmt: skip

    async def start_rebuild(
        self,
        read_model: str,
        model: str | None,
        model_path: str | None,
        chunking: dict[str, int | None],
        requested_by: str,
        *,
        owner: str = "",
        tokenizer: str | None = None,
        backend: str | None = None,
    ) -> Job:
        self._exclusive(None)
        if read_model == "lexical" and "lexical" in shared_read_models(self._settings):
            options = (model, model_path, tokenizer, backend, *chunking.values())
            if any(v is not None for v in options):
                raise AdminInvalid(
                    "a shared keyword index is rebuilt from the log as it is; no model or chunking"
                )
            return self.start_shared_rebuild(owner=owner)
        self._held_here(read_model, "rebuilt")
        live = read_manifest(self.root, self.feed.generation.name)
        generation, embedder = await plan_generation(
            self._settings, self.service.embedder, live, read_model, model, model_path, chunking,
            tokenizer=tokenizer, backend=backend,
        )  # fmt: skip
        self._exclusive(None)  # loading a model yields the loop; another request may have started a job
        plan = RebuildPlan(
            self.root, self._settings.kafka, self._codec, lambda: self.feed, embedder,
            generation.embedding_model_path, generation, self.embedding_generations, requested_by,
            local_read_models(self._settings), decode_with=self._settings.codec,
        )  # fmt: skip
        return self.jobs.start(
            Job("rebuild", read_model, owner=owner), lambda j: rebuild(j, plan, self._swap)
        )

    async def _swap(self, feed: IndexFeed, manifest: Manifest, embedder: Embedder) -> None:
        async with self._swap_lock:
            live = self.feed
            await live.pause()
            try:
                await catch_up_paused(feed, live)
                await feed.pause()
                manifest.complete = True
                write_manifest(self.root, manifest)
            except BaseException:
                live.resume()
                raise
            # No await from here to resume: a cancellation (shutdown) cannot split the swap, and no
            # query sees the new indexes with the old query embedder.
            old_generation, old_consumer = live.adopt(feed)
            self.service.embedder = embedder
            set_current_generation(self.root, manifest.name)
            self._retire(old_generation)
            live.resume()
        await live.notify()
        if old_consumer is not None:
            await old_consumer.stop()

    def _retire(self, generation: Generation) -> None:
        self._retired[generation.name] = generation

        async def close_later() -> None:
            await asyncio.sleep(RETIRE_GRACE_S)
            # Closing commits and waits for merges: keep that off the event loop.
            await asyncio.to_thread(self._close_retired, generation.name)

        task = asyncio.create_task(close_later())
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    def _close_retired(self, name: str) -> None:
        generation = self._retired.pop(name, None)
        if generation is not None:
            generation.close()

    async def status(self) -> dict[str, Any]:
        """The live generation and how many documents and chunks the searched read models hold."""
        service = self.service
        keyword, _ = service.read_models()
        shared = service.shared
        documents = (
            await shared.state.count_documents()
            if shared is not None and "lexical" in shared.indexes.read_models
            else service.feed.generation.projector.state.count_documents()
        )
        chunks = await asyncio.to_thread(keyword.count)
        return {
            "generation": service.feed.generation.name,
            "documents": documents,
            "chunks": chunks,
            # An HNSW build is due or running: searches may change once it is done.
            "vector_index_optimizing": service.feed.optimization_due,
        }

    def generations(self) -> list[dict[str, Any]]:
        current, live = current_generation(self.root), self.feed.generation
        building = {j.generation for j in self.jobs.all() if j.kind == "rebuild" and j.running}
        out = []
        for name in list_generations(self.root):
            manifest = read_manifest(self.root, name)
            info: dict[str, Any] = {"name": name, "current": name == current, "live": name == live.name}
            info["state"] = (
                "live" if name == live.name else "building" if name in building
                else "incomplete" if manifest is not None and not manifest.complete and manifest.origin == "rebuild"
                else "retired"
            )  # fmt: skip
            info["manifest"] = asdict(manifest) if manifest else None
            info["disk_bytes"] = disk_bytes(self.root / "generations" / name)
            if name == live.name:
                p = live.projector
                info["counts"] = {
                    "documents": p.state.count_documents(),
                    "lexical": p.keyword.count() if p.keyword is not None else None,
                    "vector": p.vector.count() if p.vector is not None else None,
                }
            out.append(info)
        return out

    async def retire_embedding_generation(self, generation_id: str) -> None:
        """Tell the stream workers to stop building an embedding generation no generation here needs."""
        building = {j.detail.get("embedding_generation") for j in self.jobs.all() if j.running}
        if generation_id in building:
            raise AdminConflict(f"a running rebuild reads embedding generation {generation_id}")
        for name in list_generations(self.root):
            manifest = read_manifest(self.root, name)
            if (
                name == self.feed.generation.name
                and manifest
                and manifest.embedding_generation == generation_id
            ):
                raise AdminConflict(f"the live generation {name} reads embedding generation {generation_id}")
        await self.embedding_generations.retire(generation_id)

    async def drop(self, name: str) -> None:
        if name not in list_generations(self.root):
            raise AdminNotFound(f"no generation {name!r}")
        if name == self.feed.generation.name or name == current_generation(self.root):
            raise AdminConflict(f"{name} is the live generation")
        if any(j.generation == name for j in self.jobs.all() if j.kind == "rebuild" and j.running):
            raise AdminConflict(f"{name} is being built")
        await asyncio.to_thread(self._close_retired, name)
        try:
            await asyncio.to_thread(drop_generation, self.root, name)
        except GenerationError as exc:
            raise AdminInvalid(str(exc)) from exc

    async def drop_old(self) -> list[str]:
        dropped = []
        for info in self.generations():
            if info["state"] in ("retired", "incomplete") and not info["current"]:
                await self.drop(info["name"])
                dropped.append(info["name"])
        return dropped

    async def close(self) -> None:
        await self.jobs.close()
        for task in list(self._closers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for name in list(self._retired):
            self._close_retired(name)
