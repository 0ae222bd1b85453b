"""Ingests a BEIR corpus through the real pipeline (SDK -> Kafka -> stream workers -> read models) into
a persistent, isolated pipeline state, so that a rerun with the same dataset and chunking reuses it."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ragstream.bench.eval.beir import Dataset
from ragstream.bench.eval.driver import send_commands_sync, token_of, wait_for_token, wait_until_settled
from ragstream.contracts import MAX_CONTENT_CHARS, ContentType, DocumentCommand, UpsertDocument
from ragstream.embedding.backends import auto_backend
from ragstream.embedding.passage import PASSAGE_FORMAT
from ragstream.local.pipeline import LocalPipeline, isolated_env
from ragstream.settings import PROJECT_ROOT, ChunkingSettings

STATE_ROOT = PROJECT_ROOT / ".stack" / "eval"
TENANT = "default"


@dataclass(frozen=True)
class IngestOptions:
    chunking: ChunkingSettings
    model: str
    # The encoder backend the pipeline runs ("auto": the one it picks on this machine).
    backend: str = "auto"
    workers: int = 1
    timeout_s: float = 4 * 3600
    state_root: Path = STATE_ROOT
    # Overrides the derived tag (tests use a unique one so reruns never share topics).
    tag: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IngestResult:
    tag: str
    state_dir: Path
    documents: int
    chunks: int
    # True when a complete earlier ingest was found and nothing was sent.
    reused: bool
    seconds: float


def eval_tag(dataset: Dataset, chunking: ChunkingSettings, model: str, backend: str = "auto") -> str:
    """Stable across runs: the same corpus, chunking, model, encoder backend and passage format land
    in the same topics and state (so vectors of another passage format or backend are never reused)."""
    key = "|".join(
        (
            dataset.name,
            dataset.fingerprint(),
            model,
            f"{chunking.max_tokens}/{chunking.overlap_tokens}/{chunking.min_tokens}",
            PASSAGE_FORMAT,
            # How budgets are counted changes every chunk boundary.
            *(() if chunking.tokenizer == "estimate" else (f"tokenizer={chunking.tokenizer}",)),
            # "auto" is named as what the workers resolve it to here: the CPU decides (bf16 on AMX,
            # ONNX elsewhere), and an ingest of "auto" holds the same vectors as one naming it.
            f"backend={passage_backend(backend)}",
        )
    )
    return f"eval-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def passage_backend(backend: str) -> str:
    return auto_backend("passages") if backend == "auto" else backend


def corpus_commands(dataset: Dataset) -> list[DocumentCommand]:
    commands: list[DocumentCommand] = []
    for doc in dataset.corpus:
        # A document with no text is still findable by its title, as BEIR's own runners do.
        content = (doc.text or doc.title)[:MAX_CONTENT_CHARS]
        if not content.strip():
            continue
        commands.append(
            UpsertDocument(
                tenant=TENANT,
                document_id=doc.id,
                actor="ragstream-eval",
                title=doc.title[:1024],
                content=content,
                content_type=ContentType.TEXT,
                source={"via": "eval", "dataset": dataset.name[:1024]},
            )
        )
    return commands


@contextmanager
def ingested(
    dataset: Dataset, options: IngestOptions, console: Console
) -> Iterator[tuple[LocalPipeline, IngestResult]]:
    """A running pipeline (stream workers + query API) whose read models hold the whole corpus."""
    tag = options.tag or eval_tag(dataset, options.chunking, options.model, options.backend)
    state_dir = options.state_root / tag
    chunking_env = {
        "RAGSTREAM_CHUNKING__MAX_TOKENS": str(options.chunking.max_tokens),
        "RAGSTREAM_CHUNKING__OVERLAP_TOKENS": str(options.chunking.overlap_tokens),
        "RAGSTREAM_CHUNKING__MIN_TOKENS": str(options.chunking.min_tokens),
        "RAGSTREAM_CHUNKING__TOKENIZER": options.chunking.tokenizer,
        "RAGSTREAM_EMBEDDING__MODEL": options.model,
        "RAGSTREAM_EMBEDDING__BACKEND": options.backend,
    }
    pipeline = LocalPipeline(
        isolated_env(tag, state_dir, **chunking_env, **options.extra_env),
        state_dir / "logs",
        workers=options.workers,
    )
    commands = corpus_commands(dataset)
    console.print(f"pipeline {tag} (state in {state_dir}); starting stream worker(s) and query API")
    try:
        pipeline.start(command_api=False)
        started = time.monotonic()
        expected = len({c.document_id for c in commands})
        have = int(pipeline.node_status().get("documents", 0))
        reused = have >= expected
        if reused:
            console.print(f"reusing the complete ingest of {have} documents")
        else:
            console.print(f"{have} of {expected} documents indexed; sending the corpus")
            _send_and_wait(pipeline, commands, options.timeout_s, console)
        waited = wait_until_settled(pipeline, timeout_s=options.timeout_s)
        if waited >= 1:
            console.print(f"waited {waited:.0f}s for the vector index build to finish")
        status = pipeline.node_status()
        result = IngestResult(
            tag, state_dir, int(status.get("documents", 0)), int(status.get("chunks", 0)), reused,
            time.monotonic() - started,
        )  # fmt: skip
        console.print(
            f"{result.documents} documents, {result.chunks} chunks indexed"
            + ("" if reused else f" in {result.seconds:.0f}s")
        )
        yield pipeline, result
    except Exception:
        for process in pipeline.processes.values():
            console.print(f"--- {process.name} log ({process.log_path}) ---\n{process.log_tail(30)}")
        raise
    finally:
        pipeline.stop()


def _send_and_wait(
    pipeline: LocalPipeline, commands: list[DocumentCommand], timeout_s: float, console: Console
) -> None:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        sending = progress.add_task("writing commands", total=len(commands))
        positions = send_commands_sync(
            pipeline.settings, commands, on_sent=lambda n: progress.advance(sending, n)
        )
        indexing = progress.add_task("indexed documents", total=len(commands))

        def show() -> None:
            progress.update(indexing, completed=int(pipeline.node_status().get("documents", 0)))

        wait_for_token(pipeline, token_of(positions), timeout_s=timeout_s, on_wait=show)
