"""Operations rules (domain.operations): percentiles and queue depth / oldest age rebuilt from item timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reviewqueue.domain.operations import edges, percentile, queue_series

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_percentile_interpolates_between_order_statistics():
    assert percentile([], 0.5) is None
    assert percentile([10.0], 0.9) == 10.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert percentile([float(x) for x in range(1, 11)], 0.9) == 9.1  # numpy.percentile(1..10, 90)


def test_edges_step_from_since_to_until():
    assert edges(h(0), h(2), timedelta(hours=1)) == [h(0), h(1), h(2)]
    assert edges(h(0), h(1.5), timedelta(hours=1)) == [h(0), h(1)]


def test_depth_and_oldest_age_at_each_time():
    spans = [(h(0), h(2.5)),  # open from 0 to 2.5
             (h(0.5), None),  # still open
             (h(1.5), h(1.75)),  # opened and closed between two readings
             (h(3), None)]
    series = queue_series(spans, [h(0), h(1), h(2), h(3), h(4)])
    assert [(n, age) for _, n, age in series] == [
        (1, 0.0), (2, 3600.0), (2, 7200.0), (2, 9000.0), (2, 12600.0)]  # at 3: the 0.5 item is 2.5 h old


def test_an_empty_queue_has_no_oldest_age():
    assert queue_series([(h(0), h(1))], [h(1), h(2)]) == [(h(1), 0, None), (h(2), 0, None)]
