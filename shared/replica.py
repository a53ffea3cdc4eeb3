"""Each service's own copy of who takes part (`participants`) and of the pairs matching made
(`pairs`), kept from the public topics, and the lookups that say "not here yet".

Services never ask another service; they keep what they need from events. Every service keeps the
same two replicas, so the tables (migration tracks `participants` and `pairs` under
`shared/sql/`), the repositories and the handlers live here once:

    SUBSCRIPTIONS = {**replica.PARTICIPANT_SUBSCRIPTIONS, ev.MatchEstablished: on_match_established, ...}

A handler that needs a person or a pair asks `uow.participants.require(...)` or
`uow.pairs.require(...)`: when the event that brings them has not been applied yet (it travels on
another topic), these raise `NotYetKnown`, and the consumer waits and tries again.

Everyone erased on request keeps a tombstone (`erased_participants`, by id only), written whatever
the replica held, so a later profile of theirs is refused with the reason `erased` (`Erased`) and an
erasure that came before the onboarding still holds.

A person's own choices of how to be written to (`participant.preferences.changed`: channel, quiet
hours, language, tone, what they muted) are kept beside their profile and laid over it on every
read, so handlers see `Participant.communication`, `locale` and `muted` as the person chose.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from shared.contracts import events as ev
from shared.errors import NotYetKnown, PermanentError
from shared.people import Choices, Communication, Pair, Participant, Window
from shared.waves import Applied, set_wise

SQL = Path(__file__).parent / "sql"
PARTICIPANTS_TRACK = ("participants", SQL / "participants")
PAIRS_TRACK = ("pairs", SQL / "pairs")

_PARTICIPANT_COLUMNS = (
    "participant_id, program_id, roles, name, email, locale, languages, timezone, country, region, sector, "
    "department, manager_id, seniority, skills, goals, mentor_capacity, diverse_perspective, availability, "
    "channel, style, quiet_start, quiet_end, webhook_url, response_time_hours, active, erased"
)
# The person's own choices (participant.preferences.changed; migration 002_preferences.sql), apart
# from the profile columns above: a profile update or a bulk load writes only those, so the choices
# stand, and the columns' defaults ("no choices") serve a COPY that leaves them out.
_CHOICE_COLUMNS = "preferences, muted, preferences_changed_at"
_READ_COLUMNS = f"{_PARTICIPANT_COLUMNS}, {_CHOICE_COLUMNS}"


# The choices are laid over the profile when a row is read, not when it is saved: the profile
# columns keep what the HRIS said, because a choice left empty means "as the profile says" and must
# follow the profile's later updates (and a profile's chat address decides whether "chat" can take
# effect). So a profile update touches only the profile, the choices touch only their columns, and
# every read (`participant_from_row`) gives handlers the person as they chose to be written to.
def participant_from_row(r: asyncpg.Record | dict[str, Any]) -> Participant:
    return _profile_from_row(r).with_choices(choices_from_row(r))


def choices_from_row(r: asyncpg.Record | dict[str, Any]) -> Choices | None:
    """The person's recorded choices; None when they made none (or the row was read without them)."""
    changed_at = r.get("preferences_changed_at")
    if changed_at is None:
        return None
    prefs = r["preferences"] or {}
    quiet = prefs.get("quiet_hours") or {}
    return Choices(
        changed_at=changed_at,
        muted=frozenset(r["muted"] or ()),
        channel=prefs.get("channel"),
        quiet_start=quiet.get("start"),
        quiet_end=quiet.get("end"),
        locale=prefs.get("locale"),
        style=prefs.get("style"),
    )


def choices_values(choices: Choices) -> tuple:
    """Choices as the values of `preferences, muted, preferences_changed_at`."""
    quiet = (
        {"start": choices.quiet_start, "end": choices.quiet_end}
        if choices.quiet_start is not None and choices.quiet_end is not None
        else None
    )
    return (
        {"channel": choices.channel, "quiet_hours": quiet, "locale": choices.locale, "style": choices.style},
        sorted(choices.muted),
        choices.changed_at,
    )


def _profile_from_row(r: asyncpg.Record | dict[str, Any]) -> Participant:
    return Participant(
        participant_id=r["participant_id"],
        program_id=r["program_id"],
        roles=tuple(r["roles"]),
        name=r["name"],
        email=r["email"],
        locale=r["locale"],
        languages=tuple(r["languages"]),
        timezone=r["timezone"],
        country=r["country"],
        region=r["region"],
        sector=r["sector"],
        seniority=r["seniority"],
        department=r["department"],
        manager_id=r["manager_id"],
        skills=tuple(r["skills"]),
        goals=tuple(r["goals"]),
        mentor_capacity=r["mentor_capacity"],
        diverse_perspective=r["diverse_perspective"],
        availability=tuple(_window(tuple(days), start, end) for days, start, end in r["availability"]),
        communication=_communication(
            r["channel"], r["style"], r["quiet_start"], r["quiet_end"], r["webhook_url"], r["response_time_hours"]
        ),
        active=r["active"],
        erased=r["erased"],
    )


# Most people share a handful of office hours and ways to be reached: each alike value is made once
# (both types are frozen), not parsed and built again for every row read.
@functools.lru_cache(maxsize=4096)
def _window(days: tuple[str, ...], start: str, end: str) -> Window:
    return Window(days, start, end)


@functools.lru_cache(maxsize=1024)
def _shared_communication(
    channel: str, style: str, quiet_start: str | None, quiet_end: str | None, response_time_hours: int
) -> Communication:
    return Communication(channel, style, quiet_start, quiet_end, None, response_time_hours)


def _communication(
    channel: str,
    style: str,
    quiet_start: str | None,
    quiet_end: str | None,
    webhook_url: str | None,
    response_time_hours: int,
) -> Communication:
    if webhook_url is not None:  # a person's own address: not kept beyond their row
        return Communication(channel, style, quiet_start, quiet_end, webhook_url, response_time_hours)
    return _shared_communication(channel, style, quiet_start, quiet_end, response_time_hours)


PARTICIPANT_COLUMNS = _PARTICIPANT_COLUMNS.split(", ")


def participant_values(p: Participant) -> tuple:
    """A participant as the row values of `PARTICIPANT_COLUMNS` (bulk loads use it with COPY): the
    profile only. The person's own choices have columns of their own (`record_choices`)."""
    if p.choices is not None:
        # Its channel, quiet hours, locale and tone are the person's choices, not the profile's:
        # stored as the profile, they would outlive the choices ("as the profile says").
        raise ValueError(
            f"participant {p.participant_id} carries their own choices; store the profile "
            "(Participant.from_profile) instead"
        )
    c = p.communication
    return (
        p.participant_id,
        p.program_id,
        list(p.roles),
        p.name,
        p.email,
        p.locale,
        list(p.languages),
        p.timezone,
        p.country,
        p.region,
        p.sector,
        p.department,
        p.manager_id,
        p.seniority,
        list(p.skills),
        list(p.goals),
        p.mentor_capacity,
        p.diverse_perspective,
        [[list(w.days), w.start, w.end] for w in p.availability],
        c.channel,
        c.style,
        c.quiet_start,
        c.quiet_end,
        c.webhook_url,
        c.response_time_hours,
        p.active,
        p.erased,
    )


_UPSERT = (
    f"INSERT INTO participants ({_PARTICIPANT_COLUMNS}) "
    f"VALUES ({', '.join(f'${i}' for i in range(1, len(PARTICIPANT_COLUMNS) + 1))}) "
    f"ON CONFLICT (participant_id) DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in PARTICIPANT_COLUMNS[1:])}, "
    "updated_at = now() WHERE NOT participants.erased"
)


def _profile_row(participant: Participant) -> tuple:
    return participant_values(participant.with_(active=True, erased=False))


class ParticipantDirectory:
    """The `participants` replica on one connection (inside the caller's transaction).

    `hold_what_is_read`: every read locks the rows it returns (FOR KEY SHARE) until the transaction
    ends. A service that writes what it read about a person into its own records (an address, a
    name in a message) needs it. Otherwise a transaction that read someone just before their
    erasure can commit that person's address just after it, where the erasure's scrub never looked.
    With it, the erasure (FOR UPDATE, in `erase`) waits for such a transaction and then scrubs what
    it wrote, and a read that waits on an erasure gets the erased row. The lock does not conflict
    with profile updates, and it does not conflict with other readers."""

    def __init__(self, conn: asyncpg.Connection, *, hold_what_is_read: bool = False) -> None:
        self.conn = conn
        self._hold = " FOR KEY SHARE" if hold_what_is_read else ""

    async def save(self, participant: Participant) -> None:
        """Store the current profile; the person is active (again). The person's own choices, if
        they made any, are not touched: they stand over the new profile too. `Erased` for someone
        forgotten on request (before or after this service first heard of them)."""
        await self._lock(participant.participant_id)
        if await self.is_erased(participant.participant_id):
            raise Erased()
        # The WHERE keeps an erased row as it is even if the check above were ever bypassed.
        stored = await self.conn.fetchval(_UPSERT + " RETURNING true", *_profile_row(participant))
        if stored is None:
            raise Erased()

    async def save_many(self, participants: Sequence[Participant]) -> None:
        """`save` for several people at once (each once): the same locks, check and rows, in three
        round trips for all of them. `Erased` when any of them was forgotten on request."""
        ids = sorted(p.participant_id for p in participants)
        # In one order (sorted), so two transactions taking several of the same locks cannot deadlock.
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '.participant.' || id, 0)) "
            "FROM unnest($1::text[]) AS id",
            ids,
        )
        if await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM erased_participants WHERE participant_id = ANY($1::text[])) "
            "OR EXISTS (SELECT 1 FROM participants WHERE erased AND participant_id = ANY($1::text[]))",
            ids,
        ):
            raise Erased()
        await self.conn.executemany(_UPSERT, [_profile_row(p) for p in participants])  # one round trip

    async def _lock(self, participant_id: str) -> None:
        """Serialise a profile's save with the person's erasure (both take it, for the transaction):
        an erasure of someone not yet known leaves no row to lock, only a tombstone that a
        concurrent save could not see before it commits. Advisory locks are the whole database's:
        the key names this service's schema, so services sharing a database never wait on (or
        deadlock with) each other over the same person."""
        await self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '.participant.' || $1, 0))",
            participant_id,
        )

    async def is_erased(self, participant_id: str) -> bool:
        """Whether this person was forgotten on request (their tombstone, `erased_participants`)."""
        return (
            await self.conn.fetchval("SELECT true FROM erased_participants WHERE participant_id = $1", participant_id)
            is not None
        )

    async def erased_among(self, ids) -> set[str]:
        """Those of `ids` who were forgotten on request: free text by or about them is not kept."""
        rows = await self.conn.fetch(
            "SELECT participant_id FROM erased_participants WHERE participant_id = ANY($1::text[])", list(ids)
        )
        return {r["participant_id"] for r in rows}

    async def deactivate(self, participant_id: str) -> bool:
        """False when the person was not active here (unknown, or already gone)."""
        return (
            await self.conn.fetchval(
                "UPDATE participants SET active = false, updated_at = now() WHERE participant_id = $1 AND active "
                "RETURNING true",
                participant_id,
            )
            is not None
        )

    async def erase(self, participant_id: str) -> Participant | None:
        """Forget a person here: their tombstone is written whatever this service knew of them (so
        a profile that arrives later is refused), and their row keeps only what
        `Participant.forgotten` keeps, so events that still name them find a former participant (no
        one to write to) instead of no one. Returns who they were (for the caller to scrub its own
        records), None when never known or already forgotten."""
        await self._lock(participant_id)
        await self.conn.execute(
            "INSERT INTO erased_participants (participant_id) VALUES ($1) ON CONFLICT DO NOTHING", participant_id
        )
        before = await self.get(participant_id, lock=True)
        if before is None or before.erased:
            return None
        # Their choices (language, quiet hours, ...) describe them too: gone with the rest.
        forgotten = before.forgotten()
        await self.conn.execute(
            f"UPDATE participants SET ({', '.join(PARTICIPANT_COLUMNS[1:])}) = "
            f"({', '.join(f'${i}' for i in range(2, len(PARTICIPANT_COLUMNS) + 1))}), preferences = NULL, "
            "muted = '{}', preferences_changed_at = NULL, updated_at = now() WHERE participant_id = $1",
            *participant_values(forgotten),
        )
        return before

    async def record_choices(self, participant_id: str, choices: Choices) -> bool:
        """Keep the person's own choices in place of their previous ones. False when ignored: choices
        made before the ones stored (an older event arriving late), or the person was erased (nothing
        more is kept about them). Offboarded people's choices are kept: they stand if the person
        comes back, and for what is still sent to them. `NotYetKnown` before their profile."""
        stored = await self.conn.fetchrow(
            "SELECT erased, preferences_changed_at FROM participants WHERE participant_id = $1 FOR UPDATE",
            participant_id,
        )
        if stored is None:
            if await self.is_erased(participant_id):
                return False  # forgotten before their profile ever came: nothing is kept
            raise NotYetKnown(f"no profile yet for {participant_id}")
        if stored["erased"]:
            return False
        # The same instant twice: the later on the partition (published later) wins.
        if stored["preferences_changed_at"] is not None and stored["preferences_changed_at"] > choices.changed_at:
            return False
        await self.conn.execute(
            "UPDATE participants SET preferences = $2, muted = $3, preferences_changed_at = $4, updated_at = now() "
            "WHERE participant_id = $1",
            participant_id,
            *choices_values(choices),
        )
        return True

    async def get(self, participant_id: str, *, lock: bool = False) -> Participant | None:
        row = await self.conn.fetchrow(
            f"SELECT {_READ_COLUMNS} FROM participants WHERE participant_id = $1"
            + (" FOR UPDATE" if lock else self._hold),
            participant_id,
        )
        return None if row is None else participant_from_row(row)

    async def many(self, ids: list[str]) -> dict[str, Participant]:
        rows = await self.conn.fetch(
            f"SELECT {_READ_COLUMNS} FROM participants WHERE participant_id = ANY($1::text[]){self._hold}", ids
        )
        return {r["participant_id"]: participant_from_row(r) for r in rows}

    async def require(self, *ids: str) -> list[Participant]:
        """The people, in the order asked; `NotYetKnown` when a profile has not arrived yet."""
        found = await self.many(list(ids))
        return require_all(found, ids)

    async def in_program(self, program_id: str) -> list[Participant]:
        """The active people of a program."""
        rows = await self.conn.fetch(
            f"SELECT {_READ_COLUMNS} FROM participants WHERE active AND NOT erased AND program_id = $1 "
            f"ORDER BY participant_id{self._hold}",
            program_id,
        )
        return [participant_from_row(r) for r in rows]

    async def active(self) -> list[Participant]:
        rows = await self.conn.fetch(
            f"SELECT {_READ_COLUMNS} FROM participants WHERE active AND NOT erased{self._hold}"
        )
        return [participant_from_row(r) for r in rows]


class Erased(PermanentError):
    """A profile (participant.onboarded/updated) for someone who asked to be forgotten: refused for
    good, so a re-sync or a replayed dead letter cannot bring them back. The reason says only `erased`."""

    def __init__(self) -> None:
        super().__init__("erased")


def require_all(found: dict[str, Participant], ids) -> list[Participant]:
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotYetKnown(f"no profile yet for {', '.join(missing)}")
    return [found[i] for i in ids]


_PAIR_COLUMNS = "relationship_id, program_id, mentor_id, mentee_id, established_at, goals, status, ended_at, end_reason"


def pair_from_row(r: asyncpg.Record) -> Pair:
    return Pair(
        relationship_id=r["relationship_id"],
        program_id=r["program_id"],
        mentor_id=r["mentor_id"],
        mentee_id=r["mentee_id"],
        established_at=r["established_at"],
        goals=tuple(r["goals"]),
        status=r["status"],
        ended_at=r["ended_at"],
        end_reason=r["end_reason"],
    )


class PairDirectory:
    """The `pairs` replica (relationships matching established) on one connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def add(self, pair: Pair) -> bool:
        """False when this pair was already known (the same event again)."""
        return (
            await self.conn.fetchval(
                f"INSERT INTO pairs ({_PAIR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                "ON CONFLICT (relationship_id) DO NOTHING RETURNING true",
                pair.relationship_id,
                pair.program_id,
                pair.mentor_id,
                pair.mentee_id,
                pair.established_at,
                list(pair.goals),
                pair.status,
                pair.ended_at,
                pair.end_reason,
            )
            is not None
        )

    async def add_many(self, pairs: Sequence[Pair]) -> set[str]:
        """`add` for several pairs in one statement; returns the ids of those not known before."""
        rows = await self.conn.fetch(
            # One row per pair as JSON: its goals are an array each, which unnest would flatten.
            f"INSERT INTO pairs ({_PAIR_COLUMNS}) SELECT r.relationship_id, r.program_id, r.mentor_id, r.mentee_id, "
            "r.established_at, "
            "ARRAY(SELECT e FROM jsonb_array_elements_text(r.goals) WITH ORDINALITY AS t(e, n) ORDER BY n), "
            "r.status, r.ended_at, r.end_reason "
            "FROM jsonb_to_recordset($1::jsonb) AS r(relationship_id text, program_id text, mentor_id text, "
            "mentee_id text, established_at timestamptz, goals jsonb, status text, ended_at timestamptz, "
            "end_reason text) ON CONFLICT (relationship_id) DO NOTHING RETURNING relationship_id",
            [
                {
                    "relationship_id": p.relationship_id,
                    "program_id": p.program_id,
                    "mentor_id": p.mentor_id,
                    "mentee_id": p.mentee_id,
                    "established_at": p.established_at.isoformat(),
                    "goals": list(p.goals),
                    "status": p.status,
                    "ended_at": p.ended_at.isoformat() if p.ended_at else None,
                    "end_reason": p.end_reason,
                }
                for p in pairs
            ],
        )
        return {r["relationship_id"] for r in rows}

    async def many(self, relationship_ids: Sequence[str], *, lock: bool = False) -> dict[str, Pair]:
        """The known pairs among `relationship_ids`, by id (`lock`: FOR UPDATE, in id order)."""
        rows = await self.conn.fetch(
            f"SELECT {_PAIR_COLUMNS} FROM pairs WHERE relationship_id = ANY($1::text[]) ORDER BY relationship_id"
            + (" FOR UPDATE" if lock else ""),
            list(relationship_ids),
        )
        return {r["relationship_id"]: pair_from_row(r) for r in rows}

    async def end(self, relationship_id: str, *, reason: str, at: datetime) -> bool:
        """False when it had already ended."""
        return (
            await self.conn.fetchval(
                "UPDATE pairs SET status = 'ended', ended_at = $2, end_reason = $3 WHERE relationship_id = $1 "
                "AND status = 'active' RETURNING true",
                relationship_id,
                at,
                reason,
            )
            is not None
        )

    async def get(self, relationship_id: str, *, lock: bool = False) -> Pair | None:
        row = await self.conn.fetchrow(
            f"SELECT {_PAIR_COLUMNS} FROM pairs WHERE relationship_id = $1" + (" FOR UPDATE" if lock else ""),
            relationship_id,
        )
        return None if row is None else pair_from_row(row)

    async def require(self, relationship_id: str, *, lock: bool = False) -> Pair:
        pair = await self.get(relationship_id, lock=lock)
        if pair is None:
            raise NotYetKnown(f"relationship {relationship_id} not established here yet")
        return pair


def pair_from_event(event: ev.MatchEstablished) -> Pair:
    return Pair(
        relationship_id=event.relationship_id,
        program_id=event.program_id,
        mentor_id=event.mentor_id,
        mentee_id=event.mentee_id,
        established_at=event.established_at,
        goals=tuple(event.goals),
    )


# --- the handlers every service shares -------------------------------------------------------------


class KeepsParticipants(Protocol):
    participants: ParticipantDirectory


async def on_participant_profiles(wave: Sequence[Applied], uow: KeepsParticipants, deps: object) -> None:
    """A wave of profiles (each person once), stored together."""
    await uow.participants.save_many([Participant.from_profile(applied.data) for applied in wave])


@set_wise(on_participant_profiles)
async def on_participant_profile(
    event: ev.ParticipantOnboarded | ev.ParticipantUpdated, uow: KeepsParticipants, deps: object
) -> None:
    """The full, current profile replaces the previous one; it counts for work not yet done. Refused
    (`Erased`, to the dead letters) for someone forgotten on request."""
    await uow.participants.save(Participant.from_profile(event))


async def on_participant_offboarded(event: ev.ParticipantOffboarded, uow: KeepsParticipants, deps: object) -> None:
    await uow.participants.deactivate(event.participant_id)


async def on_participant_preferences_changed(
    event: ev.ParticipantPreferencesChanged, uow: KeepsParticipants, deps: object
) -> None:
    """The person's own choices replace their previous ones and stand over their profile, also
    after later profile updates. Before their profile is here: wait (`NotYetKnown`). An older set
    arriving after a newer one, or choices of an erased person: ignored."""
    await uow.participants.record_choices(event.participant_id, Choices.from_event(event))


def erasure_handler(service: str, *, also=None):
    """A service's `participant.erased` handler: forget the person (replica, and their name and
    address in every text the service stored), after `also(uow, who_they_were)` for what only the
    service knows how to drop (messages still to send them, their own free-text answers)."""

    async def on_participant_erased(event: ev.ParticipantErased, uow, deps: object) -> None:
        await forget(uow, event, service, also=also)

    return on_participant_erased


async def forget(uow, event: ev.ParticipantErased, service: str, *, also=None) -> Participant | None:
    """Erase the person here and say so on privacy.v1 (the audit trail). Returns who they were;
    None when they were not known here (the completion is announced all the same)."""
    before = await uow.participants.erase(event.participant_id)
    if before is not None:
        if also is not None:
            await also(uow, before)
        await uow.scrub_personal(before.personal_strings())
    uow.emit(
        ev.ParticipantErasureCompleted(participant_id=event.participant_id, service=service, completed_at=uow.now())
    )
    return before


PARTICIPANT_SUBSCRIPTIONS = {
    ev.ParticipantOnboarded: on_participant_profile,
    ev.ParticipantUpdated: on_participant_profile,
    ev.ParticipantOffboarded: on_participant_offboarded,
    ev.ParticipantPreferencesChanged: on_participant_preferences_changed,
}
