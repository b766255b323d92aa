"""Compression for CPU deployment: LoRA merge, head pruning, INT8 / ONNX, latency (planned: issue 8).

The walking skeleton already merges the LoRA adapter into `student/merged`; the rest arrives with issue 8.
"""
