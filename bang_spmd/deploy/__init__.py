"""Deployment of BANG's NAR decoder: an ONNX export that onnxruntime runs (`onnx_export`, command `bang-export`) and
the latency benchmark of eager, compiled and exported NAR decoding (`benchmark`).

This package imports only `modeling_bang` and third-party packages (torch, onnx, onnxruntime), so that a serving
image needs nothing else of this repository.
"""
