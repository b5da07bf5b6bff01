"""Retrain schedules in words. The oracle for generated expressions is APScheduler itself: whatever the words say
is read back (by a small parser of the phrases, below) into the minutes, hours, days, months and weekdays they
promise, and the next fire times those allow must be exactly APScheduler's next fire times for the expression.
An expression the words cannot say exactly must come back unchanged."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger
from hypothesis import given, settings
from hypothesis import strategies as st

from reviewqueue.domain.cron_words import DAY_NAMES, MONTH_NAMES, NUMBERED_DAYS, describe_cron, parse_cron


@pytest.mark.parametrize(("expression", "words"), [
    ("0 3 * * *", "every day at 03:00 UTC"),
    ("30 2 * * *", "every day at 02:30 UTC"),
    ("0 9,17 * * mon-fri", "every weekday (Monday to Friday) at 09:00 and 17:00 UTC"),
    ("*/15 * * * *", "every 15 minutes"),
    ("0 * * * *", "every hour, on the hour"),
    ("5 * * * sat,sun", "every hour at 5 minutes past, every Saturday and Sunday, UTC"),
    ("0 */6 * * *", "every day at 00:00, 06:00, 12:00 and 18:00 UTC"),
    ("0 0 1 * *", "on day 1 of the month at 00:00 UTC"),
    ("0 0 1,15 1,7 *", "on days 1 and 15 of January and July at 00:00 UTC"),
    ("0 4 * * tue-thu", "every day from Tuesday to Thursday at 04:00 UTC"),
    # APScheduler 3 reads day-of-week numbers from 0 = Monday: the words say what will really happen
    ("0 3 * * 0", f"every Monday at 03:00 UTC {NUMBERED_DAYS}"),
])
def test_common_schedules_in_words(expression: str, words: str) -> None:
    assert describe_cron(expression) == words


@pytest.mark.parametrize("expression", [
    "*/7 * * * *",  # uneven across the hour: not "every 7 minutes"
    "0 3 1 * mon",  # APScheduler: the 1st AND a Monday; crontab: either — no words would be fair to both readers
    "0 0 30 2 *",  # February has no day 30
    "*/5 */2 * * *",  # 144 times a day: too many to list
    "0 3 L * *", "0 3 * * mon#1", "@daily", "0 3 * *", "61 3 * * *", "0 3 * * mon-fri/2", "",
])
def test_what_cannot_be_said_exactly_comes_back_as_written(expression: str) -> None:
    assert describe_cron(expression) == expression


# --- reading the words back -------------------------------------------------------------------------------

_ALL_DAYS = frozenset(range(7))


def _names(listed: str, names: tuple[str, ...]) -> set[int]:
    return {names.index(word) for word in re.split(r", | and ", listed)}


def _months(text: str) -> frozenset[int] | None:
    return frozenset(m + 1 for m in _names(text, MONTH_NAMES)) if text else None


def _days_phrase(text: str) -> tuple[frozenset[int] | None, frozenset[int] | None, frozenset[int] | None]:
    """(days of the month, months, weekdays) a days phrase promises."""
    text = text.replace(" (months without that day are skipped)", "")
    if m := re.fullmatch(r"on days? ([0-9, and]+) of (the month|.+)", text):
        days = frozenset(int(d) for d in re.split(r", | and ", m[1]))
        return days, None if m[2] == "the month" else _months(m[2]), None
    m = re.fullmatch(r"(every .+?)(?: in (.+))?", text)
    assert m, text
    head, months = m[1], _months(m[2] or "")
    if head == "every day":
        return None, months, None
    if head == "every weekday (Monday to Friday)":
        return None, months, frozenset(range(5))
    if r := re.fullmatch(r"every day from (\w+) to (\w+)", head):
        return None, months, frozenset(range(DAY_NAMES.index(r[1]), DAY_NAMES.index(r[2]) + 1))
    return None, months, frozenset(_names(head.removeprefix("every "), DAY_NAMES))


def read_back(words: str) -> tuple[frozenset[int] | None, ...]:
    """(minutes, hours, days, months, weekdays) the words promise; None: every value."""
    words = words.removesuffix(f" {NUMBERED_DAYS}")
    if m := re.fullmatch(r"(.+) at ([0-9:, and]+) UTC", words):
        times = [tuple(int(x) for x in t.split(":")) for t in re.split(r", | and ", m[2])]
        hours, minutes = frozenset(h for h, _ in times), frozenset(mm for _, mm in times)
        assert len(times) == len(hours) * len(minutes), "the listed times are every hour × minute pair"
        return (minutes, hours, *_days_phrase(m[1]))
    repeats = {"every minute": None, "every hour, on the hour": frozenset({0})}
    m = re.fullmatch(r"(every minute|every hour, on the hour|every hour at (\d+) minutes past|every (\d+) minutes)"
                     r"(?:, (.+), UTC)?", words)
    assert m, words
    if m[1] in repeats:
        minutes = repeats[m[1]]
    elif m[2]:
        minutes = frozenset({int(m[2])})
    else:
        minutes = frozenset(range(0, 60, int(m[3])))
    days, months, weekdays = _days_phrase(m[4]) if m[4] else (None, None, None)
    return minutes, None, days, months, weekdays


def _next_allowed(sets: tuple[frozenset[int] | None, ...], after: datetime) -> datetime:
    """The first whole minute at or after ``after`` that the sets allow (searching up to 5 years ahead)."""
    minutes, hours, days, months, weekdays = sets
    start = after.replace(second=0, microsecond=0)
    if start < after:
        start += timedelta(minutes=1)
    day = start.replace(hour=0, minute=0)
    for _ in range(5 * 366):
        if ((days is None or day.day in days) and (months is None or day.month in months)
                and (weekdays is None or day.weekday() in weekdays)):
            for hour in sorted(hours) if hours is not None else range(24):
                for minute in sorted(minutes) if minutes is not None else range(60):
                    moment = day.replace(hour=hour, minute=minute)
                    if moment >= start:
                        return moment
        day += timedelta(days=1)
    raise AssertionError("no allowed minute within 5 years")


def _term(low: int, high: int, names: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    span = st.tuples(value, value).map(sorted)
    forms = [
        value.map(str),
        span.map(lambda ab: f"{ab[0]}-{ab[1]}"),
        st.integers(1, (high - low + 1) // 2).map(lambda n: f"*/{n}"),
        st.tuples(span, st.integers(1, 12)).map(lambda t: f"{t[0][0]}-{t[0][1]}/{t[1]}"),
        st.lists(value, min_size=2, max_size=3, unique=True).map(lambda v: ",".join(map(str, v))),
    ]
    if names:
        forms.append(st.lists(st.integers(low, high), min_size=1, max_size=3, unique=True).map(
            lambda v: ",".join(names[i - low][:3].lower() for i in v)))
    return st.one_of(st.just("*"), *forms)


CRONS = st.tuples(_term(0, 59), _term(0, 23), st.one_of(st.just("*"), st.just("*"), _term(1, 31)),
                  st.one_of(st.just("*"), _term(1, 12, MONTH_NAMES)), _term(0, 6, DAY_NAMES)).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(expression=CRONS, start=st.datetimes(datetime(2025, 1, 1), datetime(2030, 1, 1)))
def test_the_words_never_promise_other_times_than_apscheduler_runs(expression: str, start: datetime) -> None:
    words = describe_cron(expression)
    try:
        trigger = CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError:  # the worker would refuse it: no words may describe it
        assert words == expression
        return
    if words == expression:
        return  # not sayable exactly: shown as written, which is never wrong
    assert parse_cron(expression) is not None
    promised = read_back(words)
    moment = start.replace(tzinfo=UTC)
    for _ in range(12):
        fired = trigger.get_next_fire_time(None, moment)
        assert fired is not None
        fired = fired.astimezone(UTC)
        assert _next_allowed(promised, moment) == fired, (expression, words)
        moment = fired + timedelta(seconds=1)
