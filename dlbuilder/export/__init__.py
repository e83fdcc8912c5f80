"""Take a network away: as JSON, as standalone PyTorch source, or as ONNX."""

from dlbuilder.export.onnx_export import export_onnx
from dlbuilder.export.python_source import python_source

__all__ = ["export_onnx", "python_source"]
