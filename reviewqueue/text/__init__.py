"""Free-text models: a sentence encoder exported to ONNX with a linear head fused on top.

Export (``export``: torch + transformers, imported lazily) and graph editing (``graph``: onnx only) run at
training time; serving (``serving.TextSession``) needs only onnxruntime and tokenizers. Names resolve lazily,
so importing this package (or ``locate``) loads nothing heavy.
"""

from importlib import import_module

__all__ = ["TextSession", "export_encoder", "fuse_head", "minilm_dir", "quantize_int8", "zero_shot_head"]

_HOMES = {
    "TextSession": "serving",
    "export_encoder": "export",
    "fuse_head": "graph",
    "minilm_dir": "locate",
    "quantize_int8": "graph",
    "zero_shot_head": "zero_shot",
}


def __getattr__(name: str) -> object:
    if name in _HOMES:
        return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(name)
