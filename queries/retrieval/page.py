"""The page of a ranking, each keyword-only document cited by its best chunk.

`fusion.rank` places a keyword-only document without knowing its chunk; this module looks chunks up
for the documents within the page only, where a search used to load the best chunk of every
document the keyword index returned (50 by default, against a page of 10).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from ragstream.queries.readmodels.base import DocumentHit, Hit
from ragstream.queries.retrieval.fusion import FusedDocument, FusedHit, Ranked, paginate

# The documents' best chunks, as `KeywordIndex.best_chunks` gives them.
ChunkLookup = Callable[[list[DocumentHit]], Awaitable[Sequence[Hit]]]


async def resolve_page(
    ranked: Sequence[Ranked], offset: int, limit: int, lookup: ChunkLookup
) -> list[FusedHit]:
    """`paginate(ranked, offset, limit)` with every entry a chunk.

    Documents are looked up from the top of the ranking to the page's end (entries before the page
    too, so that one dropped there moves the page up as a shorter ranking would). A document with
    no chunk left, deleted since the keyword search found it, is dropped and the next entry moves
    into the page; that repeats until the page holds chunks only.
    """
    paginate(ranked, offset, limit)  # checks the bounds before any lookup
    entries = list(ranked)
    while True:
        window = entries[: offset + limit]
        pending = [entry for entry in window if isinstance(entry, FusedDocument)]
        if not pending:
            return paginate([entry for entry in window if isinstance(entry, FusedHit)], offset, limit)
        found = {
            (hit.chunk.tenant, hit.chunk.document_id): hit.chunk
            for hit in await lookup([entry.document for entry in pending])
        }
        resolved: list[Ranked] = []
        for position, entry in enumerate(entries):
            if isinstance(entry, FusedDocument) and position < len(window):
                chunk = found.get((entry.document.tenant, entry.document.document_id))
                if chunk is None:
                    continue
                resolved.append(entry.cited_by(chunk))
            else:
                resolved.append(entry)
        entries = resolved
