"""Turns files, folders and bundled corpora into UpsertDocument commands."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ragstream.commands.exceptions import InvalidCommand
from ragstream.commands.files import BINARY_SUFFIXES
from ragstream.contracts import ContentType, UpsertDocument

SUFFIXES = {
    ".txt": ContentType.TEXT,
    ".text": ContentType.TEXT,
    ".rst": ContentType.TEXT,
    ".md": ContentType.MARKDOWN,
    ".markdown": ContentType.MARKDOWN,
    ".html": ContentType.HTML,
    ".htm": ContentType.HTML,
}


# Text files become JSON commands; binary ones (PDF, Office, e-mail) are sent as files.
KNOWN = frozenset(SUFFIXES) | frozenset(BINARY_SUFFIXES)


@dataclass(frozen=True)
class BinaryFile:
    path: Path
    document_id: str
    content_type: ContentType

    @classmethod
    def of(cls, path: Path, root: Path | None) -> BinaryFile:
        document_id = path.relative_to(root).as_posix() if root else path.name
        return cls(path, document_id, BINARY_SUFFIXES[path.suffix.lower()])


def is_binary_file(path: Path) -> bool:
    return path.suffix.lower() in BINARY_SUFFIXES


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[Skipped]]:
    files, skipped = [], []
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in KNOWN and not _hidden(child, path):
                    files.append(child)
        elif path.is_file():
            if path.suffix.lower() in KNOWN:
                files.append(path)
            else:
                skipped.append(Skipped(path, f"unsupported file type {path.suffix or '(none)'}"))
        else:
            skipped.append(Skipped(path, "no such file or folder"))
    return files, skipped


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def file_command(path: Path, *, root: Path | None, tenant: str, actor: str) -> UpsertDocument:
    try:
        content = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidCommand(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    document_id = path.relative_to(root).as_posix() if root else path.name
    content_type = SUFFIXES[path.suffix.lower()]
    try:
        return UpsertDocument(
            tenant=tenant,
            document_id=document_id,
            actor=actor,
            title=_title(content, content_type) or path.stem,
            content=content,
            content_type=content_type,
            metadata={"source": "file", "path": document_id[:1024]},
            source={"via": "ingest-cli", "path": str(path)[:1024]},
        )
    except ValueError as exc:
        raise InvalidCommand(f"{path}: {exc}") from exc


def _title(content: str, content_type: ContentType) -> str:
    for line in content.splitlines()[:20]:
        stripped = line.strip()
        if content_type is ContentType.MARKDOWN and stripped.startswith("#"):
            return stripped.lstrip("#").strip()[:200]
    return ""


def pydoc_topic_commands(*, tenant: str, actor: str) -> Iterator[UpsertDocument]:
    """Python's bundled documentation topics: a real corpus every Python install has offline."""
    from pydoc_data.topics import topics

    for name in sorted(topics):
        text = topics[name].strip()
        if len(text) < 80:
            continue
        yield UpsertDocument(
            tenant=tenant,
            document_id=f"pydoc/{name}",
            actor=actor,
            title=f"Python reference: {name}",
            content=text,
            content_type=ContentType.TEXT,
            metadata={"source": "pydoc", "topic": name},
            source={"via": "ingest-cli", "corpus": "pydoc_data.topics"},
        )
