"""ONNX exports of a packaged sentence-transformers model, made offline and cached on disk.

The transformer is exported with torch's ONNX exporter from the local weights (nothing is fetched),
fused for BERT-style models by ONNX Runtime's transformer optimizer, and for int8 quantised
dynamically (weights per channel, MatMuls only). The export imports torch, so it runs in a child
process (`python -m ragstream.embedding.onnx_export`): a query node that embeds with ONNX Runtime
never loads torch itself. Each export lands in a folder named after the model's version, the
backend and `EXPORT_FORMAT`, written under a temporary name and renamed, so concurrent first starts
(a worker and a query node) never see half a file.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ragstream.exceptions import ConfigurationError

# Bump when the export recipe changes: older exports are then made again, never reused.
EXPORT_FORMAT = "onnx-export-v1"
MODEL_FILE = "model.onnx"
EXPORT_TIMEOUT_S = 900.0


def export_folder(cache_dir: Path, model_version: str, backend: str) -> Path:
    key = hashlib.sha256(f"{model_version}|{backend}|{EXPORT_FORMAT}".encode()).hexdigest()[:16]
    return cache_dir / f"{backend}-{key}"


def ensure_export(model_dir: Path, cache_dir: Path, model_version: str, backend: str) -> Path:
    """The cached ONNX file of this model and backend, exported in a child process when missing."""
    folder = export_folder(cache_dir, model_version, backend)
    model = folder / MODEL_FILE
    if model.exists():
        return model
    cache_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "ragstream.embedding.onnx_export", str(model_dir), str(folder)]
    if backend == "onnx-int8":
        command.append("--int8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S, env=env, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ConfigurationError(f"ONNX export of {model_dir} took over {EXPORT_TIMEOUT_S:.0f} s") from exc
    if done.returncode != 0 or not model.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise ConfigurationError(f"ONNX export of {model_dir} failed: {' | '.join(tail)}")
    return model


def export(model_dir: Path, folder: Path, *, int8: bool) -> None:
    """Write `folder/model.onnx` (the transformer: token ids and mask in, token states out)."""
    import torch
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(str(model_dir), local_files_only=True)
    # Eager attention traces the padding mask as data; the fused SDPA path may bake shortcuts for
    # the traced inputs (an all-ones mask) into the graph.
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager")
    model.eval()

    class TokenStates(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state  # type: ignore[no-any-return]

    ids = torch.ones((2, 16), dtype=torch.long)
    mask = ids.clone()
    mask[1, 10:] = 0  # a padded row, so the mask is traced as an input that matters
    dynamic = {0: "batch", 1: "tokens"}
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        raw = work / "raw.onnx"
        with torch.no_grad():
            torch.onnx.export(
                TokenStates(model), (ids, mask, torch.zeros_like(ids)), str(raw),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["token_states"],
                dynamic_axes={n: dynamic for n in ("input_ids", "attention_mask", "token_type_ids", "token_states")},
                opset_version=17, dynamo=False,
            )  # fmt: skip
        fused = optimize_model(
            str(raw), model_type="bert",
            num_heads=int(config.num_attention_heads), hidden_size=int(config.hidden_size),
        )  # fmt: skip
        final = work / MODEL_FILE
        if int8:
            import onnx
            from onnxruntime.quantization import QuantType, quantize_dynamic

            fused.save_model_to_file(str(work / "fused.onnx"))
            quantize_dynamic(
                str(work / "fused.onnx"), str(final), weight_type=QuantType.QInt8, per_channel=True,
                op_types_to_quantize=["MatMul"], extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )  # fmt: skip
        else:
            fused.save_model_to_file(str(final))
        for leftover in ("raw.onnx", "fused.onnx"):
            (work / leftover).unlink(missing_ok=True)
        try:
            work.rename(folder)
        except OSError:
            if not (folder / MODEL_FILE).exists():  # not a concurrent export that finished first
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--int8", action="store_true")
    args = parser.parse_args()
    export(args.model_dir, args.folder, int8=args.int8)


if __name__ == "__main__":
    main()
