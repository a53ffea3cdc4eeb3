"""Random secrets made once and kept on disk, for the local stack: `tandem up`'s link key and the
service roles' database passwords (`tandem db provision` in development takes the same ones).

A role belongs to a PostgreSQL server, not to a database, so its password is kept per server: with
the server `tandem up` started, in that home (`.tandem/db-passwords.json`); for a server given by
DATABASE_URL, in the user's state directory under the server's address, so every stack, test run
and demo using that server agrees on them instead of setting each other's.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def kept_secret(path: Path) -> str:
    """A random secret made once and kept in the file (readable by its owner only)."""
    with _locked(path):
        if not path.exists() or not path.read_text().strip():
            _write_private(path, new_secret())
        return path.read_text().strip()


def password_variable(service: str) -> str:
    return f"TANDEM_DB_PASSWORD_{service.upper()}"


def given_role_passwords(services: Sequence[str], environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The passwords the operator gave (TANDEM_DB_PASSWORD_<SERVICE>), by service."""
    return {s: environ[password_variable(s)] for s in services if environ.get(password_variable(s))}


def server_store(owner_url: str) -> Path:
    """Where the passwords of the roles on a server named by a URL are kept."""
    parts = urlsplit(owner_url)
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    name = f"{parts.hostname or 'local'}-{parts.port or 5432}".replace("/", "_").replace(":", "_")
    return state / "tandem" / "db-passwords" / f"{name}.json"


def role_passwords(services: Sequence[str], store: Path, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Each service role's password: the given one (TANDEM_DB_PASSWORD_<SERVICE>), else a random
    one made the first time and kept in `store`."""
    given = given_role_passwords(services, environ)
    if len(given) == len(services):
        return given
    with _locked(store):
        kept = json.loads(store.read_text()) if store.exists() and store.read_text().strip() else {}
        if any(s not in kept for s in services):
            kept = {**{s: new_secret() for s in services}, **kept}
            _write_private(store, json.dumps(kept, indent=2))
    return {s: given.get(s) or kept[s] for s in services}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One process at a time makes a kept secret (tests and stacks start side by side)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_private(path: Path, text: str) -> None:
    """Write the file whole (a reader never sees half of it), readable by its owner only."""
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(temporary, path)
