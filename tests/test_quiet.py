"""The two third-party notices a demo run used to show are gone from our calls, and only from our calls."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from toolkit.compress.quantize import ONNX_FILE, quantize_onnx_int8
from toolkit.config import LoraSpec
from toolkit.distill.student import add_lora
from toolkit.quiet import GRADIENT_CHECKPOINTING_NOTICE, ORT_PREPROCESSING_NOTICE, quiet_log_line
from toolkit.transformer_models import load_classifier


def test_adding_lora_shows_no_gradient_checkpointing_notice(tiny_model_dir: Path) -> None:
    model = load_classifier(str(tiny_model_dir), ["low", "high"])
    filters_before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        add_lora(model, LoraSpec())
        seen = [str(w.message) for w in caught]
    assert not [m for m in seen if m.startswith(GRADIENT_CHECKPOINTING_NOTICE)], seen
    assert warnings.filters == filters_before


def _matmul_model(folder: Path) -> Path:
    """The smallest model ONNX Runtime's dynamic quantizer works on: one MatMul by a constant weight."""
    weight = numpy_helper.from_array(np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32), "weight")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "weight"], ["y"])],
        "matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        initializer=[weight],
    )
    folder.mkdir(parents=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), folder / ONNX_FILE)
    return folder


def test_onnx_int8_quantization_logs_no_preprocessing_notice(tmp_path: Path, caplog) -> None:
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    with caplog.at_level(logging.INFO):
        quantized = quantize_onnx_int8(_matmul_model(tmp_path / "fp32"), tmp_path / "int8")
    assert quantized.is_file() and any(n.op_type.startswith("DynamicQuantize") for n in onnx.load(quantized).graph.node)
    assert not [r for r in caplog.records if r.getMessage().startswith(ORT_PREPROCESSING_NOTICE)], caplog.text
    assert root.handlers == handlers_before and not root.filters


def test_a_quieted_log_line_leaves_other_lines_alone(caplog) -> None:
    with caplog.at_level(logging.INFO), quiet_log_line("noise"):
        logging.getLogger().warning("noise from a library")
        logging.getLogger().warning("a line that matters")
    assert [r.getMessage() for r in caplog.records] == ["a line that matters"]
