"""A sentence-transformers model run by ONNX Runtime: the model's own tokenizer (Hugging Face
`tokenizers`), the exported transformer, then mean pooling and normalisation in numpy, as the
model's sentence-transformers modules do. No torch in this process."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ragstream.embedding.base import Vectors
from ragstream.exceptions import ConfigurationError


def check_onnx_compatible(model_dir: Path) -> None:
    """The ONNX path reproduces Transformer -> mean Pooling -> Normalize; refuse anything else."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith(".Pooling"))
        pooling = json.loads((model_dir / pooling_dir / "config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration) as exc:
        raise ConfigurationError(f"{model_dir} is not a sentence-transformers model folder: {exc}") from exc
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode") and v]
    if kinds not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]) or modes != [
        "pooling_mode_mean_tokens"
    ]:
        raise ConfigurationError(
            f"{model_dir}: only Transformer + mean Pooling (+ Normalize) models run on ONNX, not {kinds} {modes}"
        )
    if not (model_dir / "tokenizer.json").exists():
        raise ConfigurationError(f"{model_dir} has no tokenizer.json (a fast tokenizer) for ONNX")


class OnnxEmbedder:
    def __init__(
        self, model_dir: Path, onnx_file: Path, *, name: str, version: str, batch_size: int = 32
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        check_onnx_compatible(model_dir)
        try:
            max_tokens = int(
                json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"]
            )
        except (OSError, ValueError, KeyError):
            max_tokens = 256
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_tokens)
        self._tokenizer.enable_padding()  # to the longest text of each call
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle pool threads sleep instead of spinning: the model shares the cores with Kafka clients,
        # the index writers and the event loop, and a stream of small calls (single edits) would
        # otherwise keep the cores busy between calls.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.name = name
        self.version = version
        self.batch_size = batch_size
        self.dimension = int(self._encode(["dimension probe"]).shape[1])

    def _encode(self, texts: Sequence[str]) -> Vectors:
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        states = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return np.asarray(pooled / norms, dtype=np.float32)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Longest first, as sentence-transformers does: texts of similar length share a call, so
        # little of each call is padding.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chosen = order[start : start + self.batch_size]
            out[chosen] = self._encode([texts[i] for i in chosen])
        return out

    def embed_query(self, text: str) -> Vectors:
        vectors: Vectors = self._encode([text])
        return vectors[0]  # type: ignore[no-any-return]
