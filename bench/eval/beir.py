"""Reads a BEIR-format folder: corpus.jsonl, queries.jsonl and qrels/<split>.tsv."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ragstream.bench.eval.metrics import has_relevant


class DatasetError(ValueError):
    """The folder is not a readable BEIR dataset."""


@dataclass(frozen=True)
class CorpusDocument:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Dataset:
    name: str
    split: str
    corpus: list[CorpusDocument]
    # Only the queries judged in the split, in file order.
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    def fingerprint(self) -> str:
        """Changes whenever a document id, title or text changes, so a stale ingest is never reused."""
        digest = hashlib.sha256()
        for doc in self.corpus:
            for part in (doc.id, doc.title, doc.text):
                digest.update(part.encode())
                digest.update(b"\x00")
        return digest.hexdigest()


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    if not path.is_file():
        raise DatasetError(f"{path} does not exist")
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not JSON: {exc}") from exc
            if not isinstance(row, dict) or "_id" not in row:
                raise DatasetError(f"{path}:{number}: expected an object with an _id")
            yield row


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    if not path.is_file():
        raise DatasetError(f"{path} does not exist")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        header = next(rows, None)
        if header is None or [h.strip() for h in header[:3]] != ["query-id", "corpus-id", "score"]:
            raise DatasetError(f"{path}: expected the header query-id, corpus-id, score")
        for number, row in enumerate(rows, start=2):
            if not row:
                continue
            try:
                query, doc, score = row[0].strip(), row[1].strip(), int(float(row[2]))
            except (IndexError, ValueError) as exc:
                raise DatasetError(f"{path}:{number}: bad row {row!r}") from exc
            qrels.setdefault(query, {})[doc] = score
    return qrels


# The split `ragstream eval` reads when none is given: the first of these the folder has.
PREFERRED_SPLITS = ("test", "dev", "train")


def default_split(folder: Path) -> str:
    """The split to evaluate when none is named: test, else dev, else train, else the only one."""
    available = sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))
    for split in PREFERRED_SPLITS:
        if split in available:
            return split
    if not available:
        raise DatasetError(f"{folder}/qrels holds no <split>.tsv file")
    return available[0]


def load_dataset(folder: Path, split: str, *, limit_queries: int | None = None) -> Dataset:
    qrels = read_qrels(folder / "qrels" / f"{split}.tsv")
    queries: dict[str, str] = {}
    for row in _jsonl(folder / "queries.jsonl"):
        query_id = str(row["_id"])
        if has_relevant(qrels.get(query_id, {})):
            queries[query_id] = str(row.get("text") or "")
    if limit_queries is not None:
        queries = dict(list(queries.items())[:limit_queries])
    corpus = [
        CorpusDocument(str(row["_id"]), str(row.get("title") or ""), str(row.get("text") or ""))
        for row in _jsonl(folder / "corpus.jsonl")
    ]
    if not corpus:
        raise DatasetError(f"{folder}/corpus.jsonl holds no documents")
    if not queries:
        raise DatasetError(f"no query of queries.jsonl has a relevant judgment in the {split} split")
    return Dataset(folder.resolve().name, split, corpus, queries, {q: qrels[q] for q in queries})


def subset(dataset: Dataset, limit_docs: int | None) -> Dataset:
    """Every document judged for the selected queries, then others in corpus order up to `limit_docs`:
    a small corpus that still holds every answer, for quick comparisons (scores run higher than on
    the full corpus, since there are fewer distractors)."""
    if limit_docs is None or limit_docs >= len(dataset.corpus):
        return dataset
    judged = {doc for judgments in dataset.qrels.values() for doc in judgments}
    kept = [d for d in dataset.corpus if d.id in judged]
    room = max(0, limit_docs - len(kept))
    kept_ids = {d.id for d in kept}
    kept += [d for d in dataset.corpus if d.id not in kept_ids][:room]
    order = {d.id: i for i, d in enumerate(dataset.corpus)}
    kept.sort(key=lambda d: order[d.id])
    return Dataset(dataset.name, dataset.split, kept, dataset.queries, dataset.qrels)
