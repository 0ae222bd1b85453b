"""What a chunk's vector is computed from: the chunk text, preceded by the document title and the
chunk's heading path, the context BM25 sees too (it ranks the whole document, title included). The
text stored and cited stays the chunk's exact span; only the model input changes.

`PASSAGE_FORMAT` is part of every passage embedder's version, and so of the embedding cache key and
of each DocumentEmbedded record's `model_version`: vectors of another format are never reused.
"""

from __future__ import annotations

PASSAGE_FORMAT = "title-heading-v1"


def passage_input(title: str, heading: str, text: str) -> str:
    """`title`, then `heading` (a path such as "Install > Linux"), then `text`, one per line; a
    heading path that starts with the title (a Markdown file whose first heading is its title) does
    not repeat it."""
    title, heading = " ".join(title.split()), " ".join(heading.split())
    context = [part for part in (title, heading) if part]
    if title and heading.startswith(title):
        context = [heading]
    return "\n".join([*context, text])
