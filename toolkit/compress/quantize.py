"""INT8 and INT4 variants: PyTorch dynamic INT8 on the Linear layers, and ONNX export with ONNX Runtime's INT8
(dynamic) and INT4 weight-only (MatMulNBits) quantizers.

PyTorch's eager dynamic quantization (`torch.ao.quantization.quantize_dynamic`) is deprecated in favour of torchao,
but on a CPU it is the path with fast kernels: torchao's INT8 configs ran slower than fp32 here without
`torch.compile` (bench/int8.py measures all three). This module is the only one that touches `torch.ao` (a test
checks it), and silences its deprecation warnings inside these calls only. The maintained replacement is ONNX
Runtime's dynamic INT8 (`quantize_onnx_int8`, the `onnx_int8` variant).
"""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from toolkit.compress.heads import pruned_architecture
from toolkit.quiet import ORT_PREPROCESSING_NOTICE, quiet_log_line
from toolkit.safe_io import atomic_folder

ONNX_FILE = "model.onnx"
INT8_FILE = "model_int8.pt"
ONNX_INPUTS = ("input_ids", "attention_mask")


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """A copy-free dynamic INT8 quantization of every Linear layer (weights INT8, activations quantized per batch)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model.eval(), {torch.nn.Linear}, dtype=torch.qint8)


def is_int8_linear(module: torch.nn.Module) -> bool:
    """Whether `module` is a Linear layer that `quantize_int8` replaced (so that callers need not name torch.ao)."""
    return isinstance(module, torch.ao.nn.quantized.dynamic.Linear)


def save_int8(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, folder: Path) -> None:
    """The quantized weights (`model_int8.pt`), the config (with any pruned heads) and the tokenizer."""
    with atomic_folder(folder) as temporary:
        temporary.mkdir()
        model.config.save_pretrained(temporary)
        tokenizer.save_pretrained(temporary)
        torch.save(model.state_dict(), temporary / INT8_FILE)


def load_int8(folder: Path) -> torch.nn.Module:
    """Rebuild the architecture from the config (pruned shape included), quantize it, then load the INT8 weights."""
    model = quantize_int8(pruned_architecture(folder))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # packed INT8 weights still go through the deprecated TypedStorage
        model.load_state_dict(torch.load(folder / INT8_FILE, weights_only=True))
    return model.eval()


def export_onnx(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, folder: Path) -> Path:
    """`folder/model.onnx` (inputs input_ids and attention_mask, batch and sequence dynamic, output logits) with
    the tokenizer and config beside it, through the dynamo-based exporter."""
    from torch.export import Dim

    folder.mkdir(parents=True, exist_ok=True)
    model = model.eval().float()
    sample = tokenizer(["a short example", "a slightly longer example text"], padding=True, return_tensors="pt")
    batch, sequence = Dim("batch"), Dim("sequence")
    exporter_log = logging.getLogger("torch.onnx")  # lists the torchvision ops it skips: noise to a user
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model,
                (),
                kwargs={name: sample[name] for name in ONNX_INPUTS},
                input_names=list(ONNX_INPUTS),
                output_names=["logits"],
                dynamic_shapes={name: {0: batch, 1: sequence} for name in ONNX_INPUTS},
                dynamo=True,
                verbose=False,
            )
    finally:
        exporter_log.setLevel(level)
    program.save(str(folder / ONNX_FILE))
    model.config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder / ONNX_FILE


def _copy_beside(source: Path, target: Path) -> None:
    """Tokenizer and config files of an ONNX variant, copied next to a derived one."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file() and not path.name.startswith("model"):
            shutil.copy2(path, target / path.name)


def quantize_onnx_int8(source: Path, target: Path) -> Path:
    """ONNX Runtime dynamic quantization: INT8 weights for MatMul / Gemm, activations quantized at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    _copy_beside(source, target)
    with quiet_log_line(ORT_PREPROCESSING_NOTICE):
        quantize_dynamic(source / ONNX_FILE, target / ONNX_FILE, weight_type=QuantType.QInt8, per_channel=True)
    return target / ONNX_FILE


def quantize_onnx_int4(source: Path, target: Path, block_size: int = 32) -> Path:
    """ONNX Runtime weight-only INT4 (MatMulNBits, symmetric, per block of `block_size` weights)."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    _copy_beside(source, target)
    quantizer = MatMulNBitsQuantizer(onnx.load(source / ONNX_FILE), block_size=block_size, is_symmetric=True)
    quantizer.process()
    quantizer.model.save_model_to_file(str(target / ONNX_FILE), use_external_data_format=False)
    return target / ONNX_FILE
