"""`tandem up --sso`: the local OpenID Provider (tandem/local/oidc.py) as the program team's identity
provider, with the dashboard's client and a few local people whose groups the role map names.

The people: `admin` (group `tandem-admins`: tandem-admin, every program) and, for each program given,
`<program>-admin` and `<program>-viewer` (groups `tandem-program-<program>-admins` and `-viewers`).
Their passwords are random, made the first time and kept with their logins and roles in
`<home>/sso-people.json`, readable by its owner only, so a restart keeps them; nothing else prints them.
The client's secret is new at every start: only the provider and the services hold it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tandem.local.oidc import LocalOpenIDProvider
from tandem.local.passwords import new_secret
from tandem.local.ports import is_free
from tandem.local.stack import free_port

CLIENT_ID = "tandem-dashboard"
PEOPLE_FILE = "sso-people.json"
ADMINS_GROUP = "tandem-admins"
PROVIDER_NAME = "the local identity provider"
DEFAULT_PORT = 9400  # when free; else any free port (the issuer printed says which)


def viewers_group(program: str) -> str:
    return f"tandem-program-{program}-viewers"


def admins_group(program: str) -> str:
    return f"tandem-program-{program}-admins"


def role_map(programs: Iterable[str]) -> dict:
    """TANDEM_ROLE_MAP for the local people's groups (services/feedback/domain/access.py)."""
    roles: dict = {ADMINS_GROUP: "tandem-admin"}
    for program in programs:
        roles[admins_group(program)] = {program: "program-admin"}
        roles[viewers_group(program)] = {program: "program-viewer"}
    return roles


def people(programs: Iterable[str]) -> dict[str, dict]:
    """login -> {groups, role}: who may sign in, without passwords."""
    found = {"admin": {"groups": [ADMINS_GROUP], "role": "tandem-admin (every program)"}}
    for program in programs:
        found[f"{program}-admin"] = {"groups": [admins_group(program)], "role": f"program-admin of {program}"}
        found[f"{program}-viewer"] = {"groups": [viewers_group(program)], "role": f"program-viewer of {program}"}
    return found


def callback_uris(dashboard_ports: Iterable[int]) -> list[str]:
    """The dashboard's redirect URIs, on each feedback replica's port, by either loopback name (the
    service sends back to the host the browser used)."""
    return [f"http://{host}:{port}/dashboard/auth/callback" for port in dashboard_ports
            for host in ("127.0.0.1", "localhost")]


def kept_people(path: Path, programs: Sequence[str]) -> dict[str, dict]:
    """The people with their passwords: the kept password of a login seen before, a new random one
    otherwise; the file is rewritten whole, readable by its owner only."""
    kept: dict = {}
    if path.exists():
        try:
            kept = {p["login"]: p for p in json.loads(path.read_text()).get("people", [])}
        except (ValueError, AttributeError, KeyError, TypeError):
            kept = {}  # unreadable: new passwords for everyone
    found = {}
    for login, person in people(programs).items():
        password = kept.get(login, {}).get("password")
        found[login] = {**person, "password": password if isinstance(password, str) and password else new_secret()}
    return found


@dataclass
class LocalSignOn:
    provider: LocalOpenIDProvider
    client_secret: str
    programs: list[str]
    people_file: Path
    log_path: Path

    @property
    def issuer(self) -> str:
        return self.provider.issuer

    def env(self) -> dict[str, str]:
        """What the services need to sign people in through the provider."""
        return {"TANDEM_OIDC_ISSUER": self.issuer, "TANDEM_OIDC_CLIENT_ID": CLIENT_ID,
                "TANDEM_OIDC_CLIENT_SECRET": self.client_secret, "TANDEM_OIDC_SCOPES": "openid profile groups",
                "TANDEM_OIDC_GROUPS_CLAIM": "groups", "TANDEM_OIDC_PROVIDER_NAME": PROVIDER_NAME,
                "TANDEM_ROLE_MAP": json.dumps(role_map(self.programs))}

    def alive(self) -> bool:
        process = self.provider.process
        return process is not None and process.poll() is None

    def restart(self) -> None:
        self.provider.start(self.log_path)

    def describe(self) -> list[str]:
        """What `tandem up --sso` prints: where to sign in and who may, never a password."""
        lines = [f"single sign-on: {self.issuer} ({PROVIDER_NAME}); people: {', '.join(people(self.programs))}",
                 f"their passwords: {self.people_file} (readable by you only)"]
        return lines

    def stop(self) -> None:
        self.provider.stop()


def start_local_sign_on(home: Path, dashboard_ports: Sequence[int], programs: Sequence[str],
                        port: int | None = None) -> LocalSignOn:
    """Start the provider (log in `<home>/logs/oidc.log`) with the dashboard's client and the people."""
    people_file = home / PEOPLE_FILE
    found = kept_people(people_file, programs)
    port = port or (DEFAULT_PORT if is_free(DEFAULT_PORT) else free_port())
    secret = new_secret()
    client = {"client_id": CLIENT_ID, "client_secret": secret, "redirect_uris": callback_uris(dashboard_ports),
              "application_type": "web"}
    users = {login: {"password": p["password"], "name": login, "email": f"{login}@tandem.localhost",
                     "groups": p["groups"]} for login, p in found.items()}
    provider = LocalOpenIDProvider(home / "oidc", port, [client], users)
    log_path = home / "logs" / "oidc.log"
    provider.start(log_path)
    sign_on = LocalSignOn(provider, secret, list(programs), people_file, log_path)
    _write_private(people_file, json.dumps({
        "issuer": provider.issuer,
        "sign_in": [f"http://127.0.0.1:{p}/dashboard" for p in dashboard_ports],
        "people": [{"login": login, **person} for login, person in found.items()]}, indent=2))
    return sign_on


def _write_private(path: Path, text: str) -> None:
    """Written whole (a reader never sees half of it), readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a leftover of an interrupted write may have had another mode
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(temporary, path)
