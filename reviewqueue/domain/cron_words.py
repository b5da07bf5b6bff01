"""A retrain schedule in words: "every day at 03:00 UTC" for ``0 3 * * *``.

The words say what the worker will do, and the worker runs ``apscheduler.triggers.cron.CronTrigger.from_crontab``
(APScheduler 3, UTC), which differs from crontab(5) in two ways that matter here:

- day-of-week numbers count from 0 = Monday (crontab: 0 = Sunday), so ``0 3 * * 0`` runs on Mondays;
- a day of the month AND a day of the week must both match (crontab fires when either does).

Only forms that can be said exactly are put in words; anything else (``L``, ``#``, steps that do not divide the
hour or day evenly, both a day of the month and a day of the week, many distinct times …) comes back as the
expression itself, so the words are never wrong — tests/unit/test_cron_words.py checks them against
APScheduler's own fire times for generated expressions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CronSets", "describe_cron", "parse_cron"]

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December")
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February: 29 only in leap years, so 28
_DAY_ABBREVIATIONS = {name[:3].lower(): i for i, name in enumerate(DAY_NAMES)}
_MONTH_ABBREVIATIONS = {name[:3].lower(): i + 1 for i, name in enumerate(MONTH_NAMES)}
# (lowest, highest, names) per field, in crontab order
_FIELDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTH_ABBREVIATIONS), (0, 6, _DAY_ABBREVIATIONS))
_TERM = re.compile(r"^(?:(\*)|([0-9a-z]+)(?:-([0-9a-z]+))?)(?:/([0-9]+))?$")
MOST_TIMES = 8
"""More distinct times of day than this are not listed: the expression is shown instead."""
NUMBERED_DAYS = "(day numbers count from 0 = Monday here, not 0 = Sunday as in crontab)"


@dataclass(frozen=True)
class CronSets:
    """The values each field allows; None for ``*`` (every value). ``numbered_days``: the day-of-week field
    used numbers, which APScheduler reads with 0 = Monday."""

    minutes: frozenset[int] | None
    hours: frozenset[int] | None
    days: frozenset[int] | None
    months: frozenset[int] | None
    weekdays: frozenset[int] | None
    numbered_days: bool = False


def _value(text: str, names: dict[str, int]) -> int | None:
    if text.isdigit():
        return int(text)
    return names.get(text)


def _field(text: str, lowest: int, highest: int, names: dict[str, int]) -> frozenset[int] | None | bool:
    """The field's values; None for a plain ``*``; False when it is not a form this module reads."""
    if text == "*":
        return None
    values: set[int] = set()
    for term in text.split(","):
        match = _TERM.match(term)
        if match is None:
            return False
        star, first, last, step = match.groups()
        if step is not None and not all(part is None or part.isdigit() for part in (first, last)):
            return False  # APScheduler takes no step after a name ("mon-fri/2")
        if star:
            start, end = lowest, highest
        else:
            start_value = _value(first, names)
            end_value = start_value if last is None else _value(last, names)
            if start_value is None or end_value is None:
                return False
            start, end = start_value, end_value
            if step is not None and last is None:  # "5/15": from 5 to the end of the range
                end = highest
        if not lowest <= start <= end <= highest:
            return False
        stride = int(step) if step is not None else 1
        # APScheduler refuses a step wider than its range, measured to the range's end ("a-0" counts to the
        # field's maximum there, as it does), or to the field's maximum without one
        reach = (end if last is not None and end else highest) - (lowest if star else start)
        if stride < 1 or (step is not None and stride > reach):
            return False
        values.update(range(start, end + 1, stride))
    return frozenset(values)


def parse_cron(expression: str) -> CronSets | None:
    """The five fields as sets of allowed values, or None when the expression is not one this module reads."""
    parts = expression.strip().lower().split()
    if len(parts) != 5:
        return None
    parsed = [_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
    if any(value is False for value in parsed):
        return None
    minutes, hours, days, months, weekdays = (value if value is not False else None for value in parsed)
    numbered = any(ch.isdigit() for ch in parts[4])
    return CronSets(minutes, hours, days, months, weekdays, numbered)  # type: ignore[arg-type]


def _and_list(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _even_step(values: frozenset[int], size: int) -> int | None:
    """N when ``values`` are exactly 0, N, 2N … of a cycle of ``size`` that N divides (so the gaps stay even
    across the wrap), else None."""
    for step in range(2, size // 2 + 1):
        if size % step == 0 and values == frozenset(range(0, size, step)):
            return step
    return None


def _times(s: CronSets) -> tuple[str, bool] | None:
    """(the times in words, whether they are a list of clock times "at …"), or None when not sayable."""
    minutes = s.minutes
    if s.hours is None:
        if minutes is None:
            return "every minute", False
        if (step := _even_step(minutes, 60)) is not None:
            return f"every {step} minutes", False
        if len(minutes) == 1:
            [minute] = minutes
            return ("every hour, on the hour" if minute == 0 else f"every hour at {minute} minutes past"), False
        return None
    if minutes is None or len(s.hours) * len(minutes) > MOST_TIMES:
        return None
    clock = [f"{h:02d}:{m:02d}" for h in sorted(s.hours) for m in sorted(minutes)]
    return _and_list(clock), True


def _days(s: CronSets) -> str | None:
    """Which days, in words ("every day", "every Monday", "on day 1 of the month" …), or None."""
    if s.days is not None and s.weekdays is not None:
        return None  # APScheduler needs both to match, crontab either: said in words it would mislead someone
    months = f" in {_and_list([MONTH_NAMES[m - 1] for m in sorted(s.months)])}" if s.months is not None else ""
    if s.weekdays is not None:
        days = sorted(s.weekdays)
        if s.weekdays == frozenset(range(5)):
            return f"every weekday (Monday to Friday){months}"
        if len(days) >= 3 and days == list(range(days[0], days[-1] + 1)):
            return f"every day from {DAY_NAMES[days[0]]} to {DAY_NAMES[days[-1]]}{months}"
        return f"every {_and_list([DAY_NAMES[d] for d in sorted(s.weekdays)])}{months}"
    if s.days is not None:
        if s.months is not None and max(s.days) > min(_MONTH_DAYS[m - 1] for m in s.months):
            return None  # "day 30 of February and March" would hide that February never has one
        listed = _and_list([str(d) for d in sorted(s.days)])
        where = f"of {months[4:]}" if months else "of the month"
        short = " (months without that day are skipped)" if s.months is None and max(s.days) > 28 else ""
        return f"on day{'s' if len(s.days) > 1 else ''} {listed} {where}{short}"
    return f"every day{months}"


def describe_cron(expression: str) -> str:
    """The schedule in words as the worker runs it (UTC), or ``expression`` unchanged when it cannot be said
    exactly. ``0 3 * * *`` → "every day at 03:00 UTC"; ``*/15 * * * mon-fri`` → "every 15 minutes, every
    weekday (Monday to Friday), UTC"."""
    sets = parse_cron(expression)
    if sets is None:
        return expression
    times, days = _times(sets), _days(sets)
    if times is None or days is None:
        return expression
    words, at_clock = times
    if at_clock:
        said = f"{days} at {words} UTC"
    elif days == "every day":
        said = words
    else:
        said = f"{words}, {days}, UTC"
    return f"{said} {NUMBERED_DAYS}" if sets.numbered_days and sets.weekdays is not None else said
