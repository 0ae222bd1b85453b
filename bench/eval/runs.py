"""Run files in TREC format (`qid Q0 docid rank score tag`, one line per retrieved document), so any
result of `ragstream eval` can be checked with trec_eval, ranx or ir-measures.

Rankings are at document level (a document's rank is its best chunk's). The score column is
`depth - rank + 1`: those tools sort by score and break ties by document id, so writing the
retrievers' raw scores, which tie often, would let them score another order than the one served.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from ragstream.bench.eval.metrics import collapse_to_documents
from ragstream.bench.eval.retrieve import ChunkHit, ModeRun


class RunFileError(ValueError):
    """Not a readable run file."""


def trec_lines(rankings: Mapping[str, Sequence[str]], tag: str) -> list[str]:
    lines = []
    for query in sorted(rankings):
        documents = collapse_to_documents(rankings[query])
        for rank, document in enumerate(documents, start=1):
            lines.append(f"{query} Q0 {document} {rank} {len(documents) - rank + 1} {tag}")
    return lines


def write_trec(path: Path, rankings: Mapping[str, Sequence[str]], tag: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in trec_lines(rankings, tag)))


def write_hits(path: Path, runs: Mapping[str, ModeRun]) -> None:
    """{mode: {query: [[document, chunk_id, version, score], ...]}}, the shape `read_run` and
    `read_hits` read back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        mode: {
            q: [[h.document_id, h.chunk_id, h.version, h.score] for h in hits] for q, hits in run.hits.items()
        }
        for mode, run in runs.items()
    }
    path.write_text(json.dumps(data))


def read_hits(path: Path) -> dict[str, ModeRun]:
    """The chunk-level runs `write_hits` saved (latencies are not kept)."""
    try:
        data = json.loads(path.read_text())
        return {
            mode: ModeRun(
                mode,
                {
                    q: [ChunkHit(str(d), str(c), int(v), float(s)) for d, c, v, s in hits]
                    for q, hits in queries.items()
                },
                [],
            )
            for mode, queries in data.items()
        }
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise RunFileError(f"{path}: not a hits file written by `ragstream eval --save-runs`: {exc}") from exc


def read_run(spec: str) -> dict[str, list[str]]:
    """Document rankings of a run: a TREC run file, or `FILE.json#MODE` for the chunk-hit JSON that
    `ragstream eval --save-runs` wrote before it wrote TREC files ({mode: {query: [[document, ...]]}})."""
    path_text, _, mode = spec.partition("#")
    path = Path(path_text)
    if not path.is_file():
        raise RunFileError(f"{path} does not exist")
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        if mode not in data:
            raise RunFileError(f"{path} holds the modes {sorted(data)}; name one as {path}#MODE")
        return {q: collapse_to_documents(str(hit[0]) for hit in hits) for q, hits in data[mode].items()}
    scored: dict[str, list[tuple[float, str]]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            query, document, score = parts[0], parts[2], float(parts[4])
        except (IndexError, ValueError) as exc:
            raise RunFileError(f"{path}:{number}: not a TREC run line: {line!r}") from exc
        scored.setdefault(query, []).append((score, document))
    # As trec_eval reads a run: by score, ties by document id, descending.
    return {q: [d for _, d in sorted(rows, reverse=True)] for q, rows in scored.items()}
