"""Each program's settings as every service sees them: what the program team configured on
programs.v1, with the deployment's defaults (the environment) wherever they left a field out.

Every service keeps its own copy (the `programs` migration track) and resolves the settings when it
uses them, so a new `program.configured` applies to work not yet done (the next proposal, meeting
or reminder), and a program nobody configured simply runs on the defaults.

    SUBSCRIPTIONS = {**programs.PROGRAM_SUBSCRIPTIONS, ...}
    settings = await uow.program_settings.get(event.program_id, deps.settings)
    by_id = await uow.program_settings.get_many(program_ids, deps.settings)  # a wave's programs at once
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from shared.contracts import events as ev

PROGRAMS_TRACK = ("programs", Path(__file__).parent / "sql" / "programs")
WEIGHTS = ("goal_fit", "availability", "seniority", "perspective", "language")


@dataclass(frozen=True, slots=True)
class OpsContact:
    name: str
    email: str
    locale: str = "en"
    channel: str = "email"  # email | chat
    webhook_url: str | None = None


@dataclass(frozen=True, slots=True)
class ConfiguredProgram:
    """What the team set; None where they left a field out."""

    program_id: str
    name: str
    configured_at: datetime
    timezone: str | None = None
    ops_contacts: tuple[OpsContact, ...] | None = None
    cadence_days: int | None = None
    duration_minutes: int | None = None
    min_notice_hours: float | None = None
    response_window_hours: float | None = None
    min_overlap_hours: float | None = None
    reminder_offsets_minutes: tuple[int, ...] | None = None
    matching_weights: dict[str, float] | None = None
    term_days: int | None = None
    checkin_first_day: int | None = None
    checkin_every_days: int | None = None
    cadence_days_min: int | None = None
    cadence_days_max: int | None = None
    duration_minutes_min: int | None = None
    duration_minutes_max: int | None = None
    video_link_template: str | None = None
    organizer_email: str | None = None

    @classmethod
    def from_event(cls, event: ev.ProgramConfigured, at: datetime) -> ConfiguredProgram:
        weights = None
        if event.matching_weights is not None:
            weights = {k: v for k, v in event.matching_weights.model_dump().items() if v is not None}
        return cls(
            program_id=event.program_id,
            name=event.name,
            configured_at=at,
            timezone=event.timezone,
            ops_contacts=None
            if event.ops_contacts is None
            else tuple(OpsContact(c.name, c.email, c.locale, c.channel, c.webhook_url) for c in event.ops_contacts),
            cadence_days=event.cadence_days,
            duration_minutes=event.duration_minutes,
            min_notice_hours=event.min_notice_hours,
            response_window_hours=event.response_window_hours,
            min_overlap_hours=event.min_overlap_hours,
            reminder_offsets_minutes=event.reminder_offsets_minutes,
            matching_weights=weights,
            term_days=event.term_days,
            checkin_first_day=event.checkin_first_day,
            checkin_every_days=event.checkin_every_days,
            cadence_days_min=event.cadence_days_min,
            cadence_days_max=event.cadence_days_max,
            duration_minutes_min=event.duration_minutes_min,
            duration_minutes_max=event.duration_minutes_max,
            video_link_template=event.video_link_template,
            organizer_email=event.organizer_email,
        )


class ProgramDefaults(Protocol):
    """The deployment's defaults: every service's settings (shared.settings.ServiceSettings) have them
    (read-only: settings are frozen)."""

    @property
    def program_timezone(self) -> str: ...
    @property
    def cadence_days(self) -> int: ...
    @property
    def duration_minutes(self) -> int: ...
    @property
    def min_notice_hours(self) -> float: ...
    @property
    def response_window_hours(self) -> float: ...
    @property
    def min_overlap_hours(self) -> float: ...
    @property
    def reminder_offsets_minutes(self) -> list[int]: ...
    @property
    def term_days(self) -> int: ...
    @property
    def checkin_first_day(self) -> int: ...
    @property
    def checkin_every_days(self) -> int: ...
    @property
    def matching_weights(self) -> dict[str, float]: ...
    @property
    def cadence_days_min(self) -> int: ...
    @property
    def cadence_days_max(self) -> int: ...
    @property
    def duration_minutes_min(self) -> int: ...
    @property
    def duration_minutes_max(self) -> int: ...
    @property
    def video_link_template(self) -> str | None: ...
    @property
    def organizer_email(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ProgramSettings:
    """A program's settings in force: the team's, else the deployment's."""

    program_id: str
    name: str
    timezone: str
    ops_contacts: tuple[OpsContact, ...]
    cadence_days: int
    duration_minutes: int
    min_notice_hours: float
    response_window_hours: float
    min_overlap_hours: float
    reminder_offsets_minutes: tuple[int, ...]
    matching_weights: dict[str, float] = field(hash=False)
    term_days: int
    checkin_first_day: int
    checkin_every_days: int
    configured: bool  # False: nobody configured this program; it runs on the defaults
    # What a pair's agreement may choose (always containing the program's own cadence and duration).
    cadence_days_min: int = 7
    cadence_days_max: int = 42
    duration_minutes_min: int = 30
    duration_minutes_max: int = 90
    video_link_template: str | None = None  # "https://.../{meeting_id}"; None: no video link is made
    organizer_email: str = "scheduling@tandem.example"

    def video_link(self, meeting_id: str) -> str | None:
        return self.video_link_template.format(meeting_id=meeting_id) if self.video_link_template else None

    @classmethod
    def resolve(
        cls, program_id: str, configured: ConfiguredProgram | None, defaults: ProgramDefaults
    ) -> ProgramSettings:
        c = configured

        def pick(name: str, default: Any) -> Any:
            value = getattr(c, name) if c is not None else None
            return default if value is None else value

        cadence = pick("cadence_days", defaults.cadence_days)
        duration = pick("duration_minutes", defaults.duration_minutes)
        return cls(
            program_id=program_id,
            name=c.name if c else program_id,
            timezone=pick("timezone", defaults.program_timezone),
            ops_contacts=pick("ops_contacts", ()),
            cadence_days=pick("cadence_days", defaults.cadence_days),
            duration_minutes=pick("duration_minutes", defaults.duration_minutes),
            min_notice_hours=pick("min_notice_hours", defaults.min_notice_hours),
            response_window_hours=pick("response_window_hours", defaults.response_window_hours),
            min_overlap_hours=pick("min_overlap_hours", defaults.min_overlap_hours),
            reminder_offsets_minutes=tuple(pick("reminder_offsets_minutes", tuple(defaults.reminder_offsets_minutes))),
            matching_weights={**defaults.matching_weights, **((c.matching_weights or {}) if c else {})},
            term_days=pick("term_days", defaults.term_days),
            checkin_first_day=pick("checkin_first_day", defaults.checkin_first_day),
            checkin_every_days=pick("checkin_every_days", defaults.checkin_every_days),
            configured=c is not None,
            cadence_days_min=min(cadence, pick("cadence_days_min", defaults.cadence_days_min)),
            cadence_days_max=max(cadence, pick("cadence_days_max", defaults.cadence_days_max)),
            duration_minutes_min=min(duration, pick("duration_minutes_min", defaults.duration_minutes_min)),
            duration_minutes_max=max(duration, pick("duration_minutes_max", defaults.duration_minutes_max)),
            video_link_template=pick("video_link_template", defaults.video_link_template),
            organizer_email=pick("organizer_email", defaults.organizer_email),
        )


_COLUMNS = [f.name for f in fields(ConfiguredProgram)]


def _row(r: asyncpg.Record) -> ConfiguredProgram:
    values = dict(r)
    if values["ops_contacts"] is not None:
        values["ops_contacts"] = tuple(OpsContact(**c) for c in values["ops_contacts"])
    if values["reminder_offsets_minutes"] is not None:
        values["reminder_offsets_minutes"] = tuple(values["reminder_offsets_minutes"])
    return ConfiguredProgram(**values)


def _values(p: ConfiguredProgram) -> list[Any]:
    values = []
    for name in _COLUMNS:
        value = getattr(p, name)
        if name == "ops_contacts" and value is not None:
            value = [{f.name: getattr(c, f.name) for f in fields(OpsContact)} for c in value]
        elif name == "reminder_offsets_minutes" and value is not None:
            value = list(value)
        values.append(value)
    return values


class ProgramDirectory:
    """The `programs` replica on one connection (inside the caller's transaction)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def save(self, program: ConfiguredProgram) -> None:
        """The new settings replace the previous ones whole."""
        placeholders = ", ".join(f"${i}" for i in range(1, len(_COLUMNS) + 1))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS[1:])
        await self.conn.execute(
            f"INSERT INTO programs ({', '.join(_COLUMNS)}) VALUES ({placeholders}) "
            f"ON CONFLICT (program_id) DO UPDATE SET {updates}",
            *_values(program),
        )

    async def configured(self, program_id: str) -> ConfiguredProgram | None:
        row = await self.conn.fetchrow(f"SELECT {', '.join(_COLUMNS)} FROM programs WHERE program_id = $1", program_id)
        return None if row is None else _row(row)

    async def configured_many(self, program_ids: Iterable[str]) -> dict[str, ConfiguredProgram]:
        """`configured` for several programs, in one statement: those configured, by program id."""
        rows = await self.conn.fetch(
            f"SELECT {', '.join(_COLUMNS)} FROM programs WHERE program_id = ANY($1::text[])", sorted(set(program_ids))
        )
        return {r["program_id"]: _row(r) for r in rows}

    async def get(self, program_id: str, defaults: ProgramDefaults) -> ProgramSettings:
        """The settings in force for a program (the defaults when it was never configured)."""
        return ProgramSettings.resolve(program_id, await self.configured(program_id), defaults)

    async def get_many(self, program_ids: Iterable[str], defaults: ProgramDefaults) -> dict[str, ProgramSettings]:
        """`get` for several programs (a wave's span a few), in one statement: every id asked, by id."""
        ids = sorted(set(program_ids))
        configured = await self.configured_many(ids)
        return {i: ProgramSettings.resolve(i, configured.get(i), defaults) for i in ids}

    async def all(self) -> list[ConfiguredProgram]:
        return [
            _row(r) for r in await self.conn.fetch(f"SELECT {', '.join(_COLUMNS)} FROM programs ORDER BY program_id")
        ]


class KeepsPrograms(Protocol):
    program_settings: ProgramDirectory

    def now(self) -> datetime: ...


async def on_program_configured(event: ev.ProgramConfigured, uow: KeepsPrograms, deps: object) -> None:
    """The full settings of a program; they replace the previous ones and apply to work not yet done."""
    await uow.program_settings.save(ConfiguredProgram.from_event(event, uow.now()))


PROGRAM_SUBSCRIPTIONS = {ev.ProgramConfigured: on_program_configured}
