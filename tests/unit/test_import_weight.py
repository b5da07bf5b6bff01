"""`import reviewqueue` stays light: no pandas/numpy until a caller needs them, never the dev package."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = (
    "import json, sys\n"
    "import reviewqueue, reviewqueue.cli\n"
    "print(json.dumps({'heavy': [m for m in ('pandas', 'numpy') if m in sys.modules],\n"
    "                  'dev': sorted(m for m in sys.modules if m.split('.')[0] == 'reviewqueue_dev')}))\n"
)


def test_import_reviewqueue_loads_no_pandas_numpy_nor_the_dev_package() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded["heavy"] == []
    assert loaded["dev"] == []
