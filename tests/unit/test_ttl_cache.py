"""TtlCache: entries live ttl seconds on its own clock, die at once when the writer generation moves, and the
least recently put keys go beyond max_keys."""

from __future__ import annotations

from reviewqueue.domain.ttl_cache import TtlCache


def test_an_entry_lives_ttl_seconds_then_is_gone():
    now = [100.0]
    cache: TtlCache[str] = TtlCache(5.0, clock=lambda: now[0])
    cache.put("k", "v")
    now[0] += 4.999
    assert cache.get("k") == "v"
    now[0] += 0.001
    assert cache.get("k") is None


def test_a_moved_generation_drops_the_entry():
    cache: TtlCache[str] = TtlCache(60.0, clock=lambda: 0.0)
    cache.put("k", "v", generation=3)
    assert cache.get("k", generation=3) == "v"
    assert cache.get("k", generation=4) is None
    assert cache.get("k", generation=3) is None  # dropped, not kept for the old generation


def test_memory_is_bounded_and_clear_empties_it():
    cache: TtlCache[int] = TtlCache(60.0, max_keys=2, clock=lambda: 0.0)
    for i in range(3):
        cache.put(str(i), i)
    assert [cache.get(str(i)) for i in range(3)] == [None, 1, 2]
    cache.clear()
    assert cache.get("2") is None
