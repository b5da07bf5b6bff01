"""ui.quality: per-version quality rows and precision-at-k chart rows for the Models page."""

from __future__ import annotations

from datetime import UTC, datetime

from reviewqueue.schemas import PrecisionAtK, VersionOut, VersionQuality
from ui import charts
from ui import quality as qual

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def _version(number: int, status: str = "retired") -> VersionOut:
    return VersionOut(id=100 + number, version=number, status=status, sha256="ab" * 32, metrics={},
                      data_fingerprint="x", lineage={}, created_at=NOW, promoted_at=None)


def _quality(
    number: int, labels: int, holdout: dict[str, object], curve: list[tuple[int, float, int]]
) -> VersionQuality:
    return VersionQuality(version=number, labels_used=labels, holdout=holdout,
                          precision_at_k=[PrecisionAtK(k=k, precision=p, labelled=n) for k, p, n in curve])


def test_latest_versions_oldest_first() -> None:
    versions = [_version(n) for n in (3, 1, 7, 5)]
    assert [v.version for v in qual.latest_versions(versions, 3)] == [3, 5, 7]
    assert qual.latest_versions(versions, 0) == []


def test_quality_rows_newest_first_and_missing_metrics_empty() -> None:
    versions = [_version(1), _version(2, "champion"), _version(3)]
    reports = {
        1: _quality(1, 0, {}, []),  # zero-shot: nothing held out, nothing labelled yet
        2: _quality(2, 40, {"precision": 0.812345, "recall": 0.5, "roc_auc": 0.9, "n": 12, "f1": None},
                    [(5, 0.8, 5), (10, 0.7, 10), (12, 0.6667, 12)]),
    }  # v3's report failed to load: no row
    assert qual.quality_rows(versions, reports) == [
        {"version": "v2", "labels used": 40, "held-out n": 12, "precision": 0.8123, "recall": 0.5,
         "AUC": 0.9, "labelled now": 12},
        {"version": "v1", "labels used": 0, "held-out n": None, "precision": None, "recall": None,
         "AUC": None, "labelled now": 0},
    ]


def test_precision_at_k_rows_one_line_per_version() -> None:
    reports = {10: _quality(10, 9, {}, [(10, 0.5, 10), (5, 0.6, 5)]), 2: _quality(2, 0, {}, [(3, 1.0, 3)])}
    rows = qual.precision_at_k_rows(reports)
    assert [(r["version"], r["k"], r["precision"]) for r in rows] == [
        ("v2", 3, 1.0), ("v10", 5, 0.6), ("v10", 10, 0.5)]
    spec = charts.precision_at_k(rows).to_dict()
    assert spec["encoding"]["color"]["sort"] == ["v2", "v10"]  # versions in number order, not text order
    assert spec["encoding"]["x"]["sort"] == [3, 5, 10]
