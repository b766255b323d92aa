"""Compression for CPU deployment (stage 6 of a run): LoRA merge, loss-aware attention-head pruning, PyTorch INT8,
ONNX export with ONNX Runtime INT8 / INT4, CPU latency, and the choice of the deployed variant.

    heads.py     head importance, loss-aware choice, the surgery, loading a pruned model
    quantize.py  PyTorch dynamic INT8; ONNX export and ONNX Runtime quantization
    runtime.py   any variant as texts -> logits on the CPU
    latency.py   p50 / p95 at batch 1 and throughput in batches, on real texts
    report.py    the choice, export/compression.md and compression.png
    stage.py     the stage: builds, evaluates, times and writes export/

Importing the package registers the loader of pruned models with toolkit.transformer_models, so that
`load_classifier` loads a pruned variant folder wherever it is given one.
"""

from toolkit.compress import heads as _heads  # noqa: F401 - registers `load_if_pruned`
