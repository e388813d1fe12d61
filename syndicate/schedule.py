"""Digest schedules: ``daily at 07:00``, ``weekly on monday at 07:00``, or a list of them.

Times are wall-clock times in the site's timezone, so a 07:00 digest goes out at 07:00
both in winter and in summer. A slot is *due* once its time has passed and no digest
has been sent for it (or a later slot) yet: a 07:05 run after a missed 07:00 run still
sends, and the run after that does not send again. Only the most recent slot is ever
due, so a machine that was off for a week sends one digest, not seven.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .errors import ConfigError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_ENTRY = re.compile(
    r"^\s*(?:(?P<daily>daily|every\s+day)|(?:weekly\s+on|every)\s+(?P<day>[a-z]+?)s?)"
    r"\s+at\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*$",
    re.IGNORECASE,
)
EXPECTED = "expected 'daily at HH:MM' or 'weekly on DAY at HH:MM'"


@dataclass(frozen=True, order=True)
class Slot:
    """One recurring time: every day, or one weekday (0 = Monday), at ``at``."""

    weekday: int | None
    at: time

    def describe(self) -> str:
        when = "daily" if self.weekday is None else f"weekly on {WEEKDAYS[self.weekday]}"
        return f"{when} at {self.at:%H:%M}"


@dataclass(frozen=True)
class Schedule:
    """A set of slots in one timezone."""

    slots: tuple[Slot, ...]
    tz: ZoneInfo

    def __bool__(self) -> bool:
        return bool(self.slots)

    def describe(self) -> str:
        return ", ".join(slot.describe() for slot in self.slots)

    def latest(self, now: datetime) -> datetime | None:
        """The most recent slot time at or before ``now`` (UTC), or None for an empty schedule."""
        local_today = now.astimezone(self.tz).date()
        candidates = [when for day in _days_back(local_today, 8) for when in self._times_on(day) if when <= now]
        return max(candidates, default=None)

    def next(self, now: datetime) -> datetime | None:
        """The first slot time strictly after ``now`` (UTC), or None for an empty schedule."""
        local_today = now.astimezone(self.tz).date()
        candidates = [
            when
            for offset in range(-1, 9)
            for when in self._times_on(local_today + timedelta(days=offset))
            if when > now
        ]
        return min(candidates, default=None)

    def due(self, now: datetime, last_sent: datetime | None) -> datetime | None:
        """The slot a run at ``now`` should send for, or None if nothing is due.

        ``last_sent`` is the slot time of the last digest sent for this schedule (None if
        there never was one): a slot is due once, by the first run at or after its time.
        """
        latest = self.latest(now)
        if latest is None or (last_sent is not None and latest <= last_sent):
            return None
        return latest

    def _times_on(self, day: date) -> Iterable[datetime]:
        for slot in self.slots:
            if slot.weekday is None or slot.weekday == day.weekday():
                yield _local_to_utc(day, slot.at, self.tz)


def parse_schedule(entries: Sequence[str], tz: ZoneInfo | str, *, where: str = "digest.schedule") -> Schedule:
    """Read schedule entries such as ``weekly on monday at 07:00``; raise ConfigError naming the entry."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    slots: set[Slot] = set()
    for index, entry in enumerate(entries):
        slots.add(parse_slot(entry, where=f"{where}[{index}]"))
    return Schedule(tuple(sorted(slots, key=lambda s: (s.weekday if s.weekday is not None else -1, s.at))), zone)


def parse_slot(entry: str, *, where: str = "digest.schedule") -> Slot:
    """One entry: ``daily at 07:00``, ``weekly on monday at 07:00`` (also ``every monday at 7:00``)."""
    match = _ENTRY.match(entry)
    if match is None:
        raise ConfigError(f"{where}: cannot read {entry!r} ({EXPECTED})")
    hour, minute = int(match["hour"]), int(match["minute"])
    if hour > 23 or minute > 59:
        raise ConfigError(f"{where}: {entry!r}: {hour:02d}:{minute:02d} is not a time of day (00:00 to 23:59)")
    weekday = None
    if not match["daily"]:
        day = match["day"].lower()
        found = [i for i, name in enumerate(WEEKDAYS) if name == day or (len(day) >= 3 and name.startswith(day))]
        if len(found) != 1:
            raise ConfigError(f"{where}: {entry!r}: unknown day {match['day']!r} (use monday ... sunday)")
        weekday = found[0]
    return Slot(weekday, time(hour, minute))


def _days_back(today: date, count: int) -> Iterable[date]:
    for offset in range(count):
        yield today - timedelta(days=offset)


def _local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """Wall-clock ``at`` on ``day`` in ``tz``, as UTC.

    A time skipped by a spring-forward change (02:30 in Brussels on the last Sunday of
    March) maps to the same instant one hour later by the clock; a time that occurs twice
    in autumn means its first occurrence (fold=0), so the slot is still due exactly once.
    """
    local = datetime.combine(day, at, tzinfo=tz)
    return local.astimezone(UTC)
