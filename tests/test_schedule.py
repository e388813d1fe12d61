"""Digest schedules: parsing, and which slot a run at a given moment sends for."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from syndicate.errors import ConfigError
from syndicate.schedule import EXPECTED, Schedule, Slot, parse_schedule, parse_slot

BRUSSELS = ZoneInfo("Europe/Brussels")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("daily at 07:00", Slot(None, time(7, 0))),
        ("Daily at 7:30", Slot(None, time(7, 30))),
        ("every day at 23:59", Slot(None, time(23, 59))),
        ("weekly on monday at 07:00", Slot(0, time(7, 0))),
        ("weekly on Sunday at 00:00", Slot(6, time(0, 0))),
        ("every friday at 18:15", Slot(4, time(18, 15))),
        ("every wednesdays at 06:00", Slot(2, time(6, 0))),
        ("weekly on tue at 08:00", Slot(1, time(8, 0))),
    ],
)
def test_parse_slot_accepts(entry: str, expected: Slot) -> None:
    assert parse_slot(entry) == expected


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("dialy at 07:00", f"digest.schedule: cannot read 'dialy at 07:00' ({EXPECTED})"),
        ("daily at 24:00", "digest.schedule: 'daily at 24:00': 24:00 is not a time of day (00:00 to 23:59)"),
        ("daily at 07:60", "digest.schedule: 'daily at 07:60': 07:60 is not a time of day (00:00 to 23:59)"),
        (
            "weekly on moonday at 07:00",
            "digest.schedule: 'weekly on moonday at 07:00': unknown day 'moonday' (use monday ... sunday)",
        ),
        ("weekly on t at 07:00", "digest.schedule: 'weekly on t at 07:00': unknown day 't' (use monday ... sunday)"),
        ("daily 07:00", f"digest.schedule: cannot read 'daily 07:00' ({EXPECTED})"),
    ],
)
def test_parse_slot_rejects_with_message(entry: str, message: str) -> None:
    assert EXPECTED == "expected 'daily at HH:MM' or 'weekly on DAY at HH:MM'"
    with pytest.raises(ConfigError) as info:
        parse_slot(entry)
    assert str(info.value) == message


def test_parse_schedule_names_the_entry_and_dedupes() -> None:
    with pytest.raises(ConfigError, match=r"^digest\.schedule\[1\]: cannot read 'nope'"):
        parse_schedule(["daily at 07:00", "nope"], BRUSSELS)
    schedule = parse_schedule(["weekly on monday at 07:00", "daily at 07:00", "daily at 07:00"], BRUSSELS)
    assert schedule.describe() == "daily at 07:00, weekly on monday at 07:00"
    assert not parse_schedule([], BRUSSELS)


DAILY = parse_schedule(["daily at 07:00"], BRUSSELS)
WEEKLY = parse_schedule(["weekly on monday at 07:00"], BRUSSELS)
TWICE = parse_schedule(["daily at 07:00", "daily at 19:00"], BRUSSELS)
NIGHT = parse_schedule(["daily at 02:30"], BRUSSELS)


@pytest.mark.parametrize(
    ("schedule", "now", "last_sent", "due"),
    [
        # Winter (CET, UTC+1): 07:00 Brussels is 06:00 UTC.
        (DAILY, "2026-01-15T05:59:59", None, "2026-01-14T06:00:00"),
        (DAILY, "2026-01-15T05:59:59", "2026-01-14T06:00:00", None),
        (DAILY, "2026-01-15T06:00:00", "2026-01-14T06:00:00", "2026-01-15T06:00:00"),
        # A 07:05 run after a missed 07:00 run still sends; the next one does not.
        (DAILY, "2026-01-15T06:05:00", "2026-01-14T06:00:00", "2026-01-15T06:00:00"),
        (DAILY, "2026-01-15T06:10:00", "2026-01-15T06:00:00", None),
        # Summer (CEST, UTC+2): 07:00 Brussels is 05:00 UTC.
        (DAILY, "2026-07-01T05:00:00", "2026-06-30T05:00:00", "2026-07-01T05:00:00"),
        (DAILY, "2026-07-01T04:59:00", "2026-06-30T05:00:00", None),
        # Spring forward (Sunday 29 March 2026): 07:00 is already CEST.
        (DAILY, "2026-03-29T05:00:00", "2026-03-28T06:00:00", "2026-03-29T05:00:00"),
        (DAILY, "2026-03-29T04:59:00", "2026-03-28T06:00:00", None),
        # Fall back (Sunday 25 October 2026): 07:00 is CET again.
        (DAILY, "2026-10-25T05:30:00", "2026-10-24T05:00:00", None),
        (DAILY, "2026-10-25T06:00:00", "2026-10-24T05:00:00", "2026-10-25T06:00:00"),
        # 02:30 does not exist on 29 March: the slot falls at 03:30 CEST (01:30 UTC), once.
        (NIGHT, "2026-03-29T01:29:00", "2026-03-28T01:30:00", None),
        (NIGHT, "2026-03-29T01:30:00", "2026-03-28T01:30:00", "2026-03-29T01:30:00"),
        # 02:30 happens twice on 25 October: the first time (CEST, 00:30 UTC) counts, once.
        (NIGHT, "2026-10-25T00:30:00", "2026-10-24T00:30:00", "2026-10-25T00:30:00"),
        (NIGHT, "2026-10-25T01:30:00", "2026-10-25T00:30:00", None),
        # Weekly on Monday: 2026-11-30 is a Monday.
        (WEEKLY, "2026-11-30T05:59:00", "2026-11-23T06:00:00", None),
        (WEEKLY, "2026-11-30T06:00:00", "2026-11-23T06:00:00", "2026-11-30T06:00:00"),
        (WEEKLY, "2026-12-03T12:00:00", "2026-11-23T06:00:00", "2026-11-30T06:00:00"),
        (WEEKLY, "2026-12-03T12:00:00", "2026-11-30T06:00:00", None),
        # Weekly across the spring change: Monday 30 March 2026, 07:00 CEST.
        (WEEKLY, "2026-03-30T05:00:00", "2026-03-23T06:00:00", "2026-03-30T05:00:00"),
        # A machine that was off for days sends one digest, for the latest slot only.
        (DAILY, "2026-01-20T09:00:00", "2026-01-14T06:00:00", "2026-01-20T06:00:00"),
        # Several slots a day.
        (TWICE, "2026-01-15T12:00:00", "2026-01-15T06:00:00", None),
        (TWICE, "2026-01-15T18:00:00", "2026-01-15T06:00:00", "2026-01-15T18:00:00"),
        (TWICE, "2026-01-16T05:00:00", "2026-01-15T18:00:00", None),
    ],
)
def test_due(schedule: Schedule, now: str, last_sent: str | None, due: str | None) -> None:
    got = schedule.due(utc(now), None if last_sent is None else utc(last_sent))
    assert got == (None if due is None else utc(due))


def test_due_is_none_for_an_empty_schedule() -> None:
    assert parse_schedule([], BRUSSELS).due(utc("2026-01-15T12:00:00"), None) is None


@pytest.mark.parametrize(
    ("schedule", "now", "expected"),
    [
        (DAILY, "2026-01-15T06:00:00", "2026-01-16T06:00:00"),
        (DAILY, "2026-03-28T07:00:00", "2026-03-29T05:00:00"),
        (WEEKLY, "2026-11-28T12:00:00", "2026-11-30T06:00:00"),
        (WEEKLY, "2026-11-30T06:00:00", "2026-12-07T06:00:00"),
    ],
)
def test_next(schedule: Schedule, now: str, expected: str) -> None:
    assert schedule.next(utc(now)) == utc(expected)
