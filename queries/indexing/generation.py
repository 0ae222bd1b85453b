"""An index generation: one keyword index, one vector index and their projection state, in one folder.

Rebuilds write a new generation beside the live one and swap the CURRENT pointer atomically. Each
folder carries a manifest saying how it was built (embedding model, origin), so a restarted query
node embeds queries with the model its current generation was built with.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from ragstream.queries.indexing.projector import READ_MODELS, IndexProjector
from ragstream.queries.indexing.state import ProjectionState
from ragstream.queries.readmodels.qdrant_edge_index import QdrantEdgeVectorIndex
from ragstream.queries.readmodels.tantivy_index import TantivyKeywordIndex

MANIFEST = "generation.json"
_NAME = re.compile(r"^g(\d+)$")
# Names the folder of a generation's vector index ("vector" where it is missing): the live index's
# HNSW graph is built on a copy in a new folder (`vector.N`), which then takes its place.
VECTOR_POINTER = "VECTOR"
_VECTOR_FOLDER = re.compile(r"^vector(\.(\d+))?$")


class GenerationError(Exception):
    """A generation operation that would break the live node (dropping CURRENT, a bad name)."""


@dataclass
class Manifest:
    name: str
    origin: str  # "initial" or "rebuild"
    read_model: str  # what the rebuild was asked for: lexical, vector or all
    embedding_model: str
    embedding_model_path: str | None
    dimension: int
    created_at: str
    # False until the generation has caught up with the log and been swapped in once.
    complete: bool = False
    # The topic the generation is fed from: the embeddings topic (the workers' live chunker and
    # model), or an embedding generation's own topic ("embeddings" in manifests written before
    # embedding generations existed).
    source: str = "embeddings"
    # The chunk budget of that embedding generation, where it is not the workers' own.
    chunking: dict[str, int] | None = None
    embedding_generation: str | None = None
    # The version (model files, backend, passage format) of the embedder this node embeds the
    # generation's queries with; None in manifests written before it was recorded. The vectors' own
    # version is in each DocumentEmbedded record: under backend "auto", workers may embed passages
    # with another backend of the same model (ragstream.embedding.backends, roles).
    embedding_model_version: str | None = None
    # That embedding generation's budget tokenizer and encoder backend (see
    # ragstream.embedding.generation); None where they are the workers' own, as in older manifests.
    chunk_tokenizer: str | None = None
    embedding_backend: str | None = None

    @classmethod
    def new(
        cls,
        name: str,
        origin: str,
        read_model: str,
        model: str,
        model_path: str | None,
        dimension: int,
        *,
        source: str,
        chunking: dict[str, int] | None = None,
        embedding_generation: str | None = None,
        model_version: str | None = None,
        chunk_tokenizer: str | None = None,
        embedding_backend: str | None = None,
    ) -> Manifest:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        return cls(
            name, origin, read_model, model, model_path, dimension, now,
            source=source, chunking=chunking, embedding_generation=embedding_generation,
            embedding_model_version=model_version, chunk_tokenizer=chunk_tokenizer,
            embedding_backend=embedding_backend,
        )  # fmt: skip


@dataclass
class Generation:
    name: str
    path: Path
    projector: IndexProjector

    @classmethod
    def open(
        cls, root: Path, name: str, dimension: int, read_models: Sequence[str] = READ_MODELS
    ) -> Generation:
        """`read_models`: the ones this node holds embedded; the others live on a server."""
        path = generation_path(root, name)
        path.mkdir(parents=True, exist_ok=True)
        keyword = TantivyKeywordIndex(path / "lexical") if "lexical" in read_models else None
        vector = None
        if "vector" in read_models:
            vector = QdrantEdgeVectorIndex(vector_folder(path), dimension)
            # Only once it is open: its lock says that no other process holds the generation (and
            # builds a copy of it).
            remove_stale_vector_folders(path)
        state = ProjectionState(path / "state.sqlite")
        return cls(name, path, IndexProjector(keyword, vector, state))

    def close(self) -> None:
        self.projector.close()


def generation_path(root: Path, name: str) -> Path:
    if not _NAME.match(name):
        raise GenerationError(f"bad generation name {name!r}; expected g<number>")
    return root / "generations" / name


def read_manifest(root: Path, name: str) -> Manifest | None:
    try:
        return Manifest(**json.loads((generation_path(root, name) / MANIFEST).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def write_manifest(root: Path, manifest: Manifest) -> None:
    folder = generation_path(root, manifest.name)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    os.replace(tmp, folder / MANIFEST)


def list_generations(root: Path) -> list[str]:
    folder = root / "generations"
    names = (
        [p.name for p in folder.iterdir() if p.is_dir() and _NAME.match(p.name)] if folder.is_dir() else []
    )
    return sorted(names, key=lambda n: int(n[1:]))


def next_generation_name(root: Path) -> str:
    names = list_generations(root)
    return f"g{int(names[-1][1:]) + 1}" if names else "g1"


def disk_bytes(path: Path) -> int:
    """What a generation's folder holds now. Its indexes write, rename and remove files while this
    counts (qdrant's temporary `.atomicwrite*` folders; one vanished between being listed and being
    read, and the admin listing answered 500), so whatever vanishes meanwhile counts as nothing."""
    total = 0
    for folder, _, files in os.walk(path):  # without `onerror`, a folder that vanished is skipped
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except FileNotFoundError:
                continue
    return total


def drop_generation(root: Path, name: str) -> None:
    """Delete a generation folder; the caller makes sure no open index still lives in it."""
    if name == current_generation(root):
        raise GenerationError(f"{name} is the current generation; rebuild and swap before dropping it")
    path = generation_path(root, name)
    if not path.is_dir():
        raise GenerationError(f"no generation {name}")
    shutil.rmtree(path)


def current_generation(root: Path) -> str | None:
    pointer = root / "CURRENT"
    return pointer.read_text().strip() if pointer.exists() else None


def set_current_generation(root: Path, name: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    _point(root, "CURRENT", name)


def vector_folder(path: Path) -> Path:
    """The folder of the vector index of the generation at `path`."""
    pointer = path / VECTOR_POINTER
    return path / (pointer.read_text().strip() if pointer.exists() else "vector")


def next_vector_folder(path: Path) -> Path:
    match = _VECTOR_FOLDER.match(vector_folder(path).name)
    number = int(match.group(2)) + 1 if match and match.group(2) else 1
    return path / f"vector.{number}"


def set_vector_folder(path: Path, folder: Path) -> None:
    _point(path, VECTOR_POINTER, folder.name)


def remove_stale_vector_folders(path: Path) -> None:
    """The vector folders the pointer does not name: a copy whose build a crash cut short, or an
    index replaced just before one. Only while this process holds the generation's vector index."""
    current = vector_folder(path).name
    for folder in path.iterdir():
        if folder.is_dir() and _VECTOR_FOLDER.match(folder.name) and folder.name != current:
            shutil.rmtree(folder, ignore_errors=True)


def _point(folder: Path, pointer: str, name: str) -> None:
    tmp = folder / (pointer + ".tmp")
    with tmp.open("w") as f:
        f.write(name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / pointer)  # atomic on POSIX: readers see the old or the new name
    # The rename itself must survive a power cut, or a restart could reopen what it replaced.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
