"""Who may read and act on which program: roles per program, from identity groups or API tokens.

Roles:
- `program-viewer` reads one program (its numbers, relationships, CSV export);
- `program-admin` reads it and acts on its relationships (nudge, end, re-match);
- `tandem-admin` reads and acts on every program, and sees dead letters that name no program.

The role map (deployment configuration, `TANDEM_ROLE_MAP`) says which identity group gets which
role where, as JSON: a group maps to `"tandem-admin"`, or to an object of program id -> role, e.g.

    {"tandem-admins": "tandem-admin",
     "mentoring-emea-team": {"emea-2027": "program-admin", "global-2027": "program-viewer"}}

A person in several groups gets, per program, the strongest role any of them gives. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from types import MappingProxyType

VIEWER, ADMIN, TANDEM_ADMIN = "program-viewer", "program-admin", "tandem-admin"
PROGRAM_ROLES = (VIEWER, ADMIN)
ROLES = (VIEWER, ADMIN, TANDEM_ADMIN)


class Level(IntEnum):
    NONE = 0
    READ = 1
    ACT = 2


_LEVEL = {VIEWER: Level.READ, ADMIN: Level.ACT}


class RoleMapError(ValueError):
    """The role map is not as documented; the message says where."""


@dataclass(frozen=True)
class Grants:
    """What one caller may do: everything (tandem-admin), or a role per program."""

    everything: bool = False
    programs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def level(self, program_id: str) -> Level:
        if self.everything:
            return Level.ACT
        return _LEVEL.get(self.programs.get(program_id, ""), Level.NONE)

    def can_read(self, program_id: str) -> bool:
        return self.level(program_id) >= Level.READ

    def can_act(self, program_id: str) -> bool:
        return self.level(program_id) >= Level.ACT

    def readable(self, program_ids: Iterable[str]) -> list[str]:
        return [p for p in program_ids if self.can_read(p)]

    @property
    def sees_unassigned(self) -> bool:
        """Dead letters without a program are for tandem-admins only."""
        return self.everything

    @property
    def any(self) -> bool:
        return self.everything or bool(self.programs)

    @classmethod
    def of_role(cls, role: str, program_id: str | None) -> Grants:
        """An API token's grants: one role on one program, or tandem-admin on all."""
        if role == TANDEM_ADMIN:
            if program_id is not None:
                raise RoleMapError("tandem-admin covers every program: give no program")
            return cls(everything=True)
        if role not in PROGRAM_ROLES:
            raise RoleMapError(f"unknown role {role!r}; roles are: {', '.join(ROLES)}")
        if not program_id:
            raise RoleMapError(f"{role} needs a program")
        return cls(programs=MappingProxyType({program_id: role}))


EVERYTHING = Grants(everything=True)
NOTHING = Grants()


@dataclass(frozen=True)
class RoleMap:
    groups: Mapping[str, str | Mapping[str, str]] = field(default_factory=dict)

    def grants(self, groups: Iterable[str]) -> Grants:
        """The strongest role per program that any of the caller's groups gives."""
        best: dict[str, str] = {}
        for group in groups:
            given = self.groups.get(group)
            if given is None:
                continue
            if given == TANDEM_ADMIN:
                return EVERYTHING
            for program_id, role in given.items():
                if _LEVEL[role] > _LEVEL.get(best.get(program_id, ""), Level.NONE):
                    best[program_id] = role
        return Grants(programs=MappingProxyType(best))

    @classmethod
    def parse(cls, text: str | None) -> RoleMap:
        """From JSON, or from a file holding it when the text is a path; empty: nobody gets a role."""
        if text is None or not text.strip():
            return cls({})
        text = text.strip()
        if not text.startswith(("{", "[", "\"")):
            try:
                text = Path(text).read_text(encoding="utf-8")
            except OSError as exc:
                raise RoleMapError(f"role map file {text!r} cannot be read ({exc.strerror})") from None
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RoleMapError(f"role map is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: object) -> RoleMap:
        if not isinstance(raw, dict):
            raise RoleMapError("role map must be a JSON object of group -> role(s)")
        groups: dict[str, str | Mapping[str, str]] = {}
        for group, given in raw.items():
            if not group:
                raise RoleMapError("role map: a group name is empty")
            if given == TANDEM_ADMIN:
                groups[group] = TANDEM_ADMIN
                continue
            if not isinstance(given, dict) or not given:
                raise RoleMapError(f"role map: group {group!r} must map to \"tandem-admin\" or to an object of "
                                   "program id -> program-viewer|program-admin")
            for program_id, role in given.items():
                if not program_id:
                    raise RoleMapError(f"role map: group {group!r} names an empty program id")
                if role not in PROGRAM_ROLES:
                    raise RoleMapError(f"role map: group {group!r}, program {program_id!r}: unknown role {role!r} "
                                       f"(program-viewer or program-admin)")
            groups[group] = MappingProxyType(dict(given))
        return cls(MappingProxyType(groups))
