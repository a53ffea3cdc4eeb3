"""`tandem up --sso` as a person runs it: the local OpenID Provider starts with the stack, the people's
passwords are kept owner-only (never printed, never logged), a viewer of one program and the admin of
every program sign in through the provider's login page, and a part of the attack suite
(tests/e2e/test_access.py) runs against that stack: a forged cookie, an empty bearer token, another
program's data and actions by the viewer, a POST without Origin, a Host that is not ours. Each gets a
4xx, and the command topic holds only the one legitimate action. Ctrl-C stops the provider too."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import pytest

from tandem.client import Publisher, Watcher
from tandem.local.stack import DEFAULT_HTTP_PORTS
from tests.support.access import (ACTIONS, COMMAND_TOPICS, cookie_of, programs_loaded, publish_programs,
                                  sign_in_through_provider)
from tests.support import up as tandem_up
from tests.support.runtime import eventually
from tests.support.up import in_use, skip_if_ports_taken

pytestmark = pytest.mark.e2e
PEOPLE = {"admin", "p1-admin", "p1-viewer", "p2-admin", "p2-viewer"}


class Up:
    """The running `tandem up --sso` and what it printed."""

    def __init__(self, proc: subprocess.Popen, home: Path, output: str) -> None:
        self.proc, self.home, self.output = proc, home, output

    def printed(self, pattern: str) -> str:
        found = re.search(pattern, self.output, re.M)
        assert found, self.output
        return found.group(1)

    @property
    def issuer(self) -> str:
        return self.printed(r"^single sign-on: (http://127\.0\.0\.1:\d+) ")

    @property
    def people(self) -> dict[str, dict]:
        return {p["login"]: p for p in json.loads((self.home / "sso-people.json").read_text())["people"]}


@pytest.fixture(scope="module")
def up(tmp_path_factory) -> Up:
    skip_if_ports_taken(DEFAULT_HTTP_PORTS.values())
    home = tmp_path_factory.mktemp("tandem-home")
    proc, lines = tandem_up.start(["--sso", "--sso-program", "p1", "--sso-program", "p2"], tandem_up.environment(home))
    try:
        yield Up(proc, home, "".join(lines))
    finally:
        tandem_up.stop(proc)


def test_it_says_where_to_sign_in_and_keeps_the_passwords_to_its_owner(up):
    dashboard = f"http://127.0.0.1:{DEFAULT_HTTP_PORTS['feedback']}"
    assert f"dashboard: {dashboard}/dashboard  (sign in with {up.issuer}, or the token below)" in up.output
    assert f"their passwords: {up.home / 'sso-people.json'} (readable by you only)" in up.output
    assert f"people: {', '.join(sorted(PEOPLE))}\n" in up.output
    kept = up.home / "sso-people.json"
    assert kept.stat().st_mode & 0o077 == 0 and (up.home / "oidc" / "config.json").stat().st_mode & 0o077 == 0
    people = up.people
    assert set(people) == PEOPLE
    assert people["admin"]["groups"] == ["tandem-admins"]
    assert people["p1-viewer"]["groups"] == ["tandem-program-p1-viewers"]
    passwords = [p["password"] for p in people.values()]
    assert len(set(passwords)) == len(PEOPLE) and all(len(p) >= 32 for p in passwords)
    # No password is printed, nor written to any log.
    logs = list((up.home / "logs").glob("*.log"))
    assert {"oidc.log", "feedback.log"} <= {p.name for p in logs}
    for password in passwords:
        assert password not in up.output
        assert not [p.name for p in logs if password in p.read_text(errors="replace")]
    discovery = httpx.get(f"{up.issuer}/.well-known/openid-configuration", timeout=5).json()
    assert discovery["issuer"] == up.issuer
    sign_in_page = httpx.get(f"{dashboard}/dashboard/sign-in", timeout=5).text
    assert "Sign in with the local identity provider" in sign_in_page


async def test_attacks_on_the_stack_get_a_4xx_and_publish_nothing(up):
    base = f"http://127.0.0.1:{DEFAULT_HTTP_PORTS['feedback']}"
    bootstrap = up.printed(r"^KAFKA_BOOTSTRAP_SERVERS=(\S+)$")
    ops_token = up.printed(r"^TANDEM_OPS_TOKEN=(\S+)$")
    people = up.people
    async with Publisher(bootstrap) as pub, Watcher(bootstrap, COMMAND_TOPICS) as commands, \
            httpx.AsyncClient(base_url=base, timeout=20) as http:
        await publish_programs(pub, datetime.now(UTC))
        last: list = []
        try:
            await eventually(lambda: programs_loaded(http, {"Authorization": f"Bearer {ops_token}"}, last), 90,
                             "both programs' relationships")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {last[-1:]}") from None

        cookies = {login: await sign_in_through_provider(base, up.issuer, login, people[login]["password"])
                   for login in ("p1-viewer", "admin")}

        def as_(login: str, **headers: str) -> dict[str, str]:
            return {"cookie": f"tandem_ops_session={cookies[login]}", **headers}

        same_site = {"origin": base}
        refusals: list[tuple[str, str, int]] = []

        async def refused(method: str, path: str, expected: int, **kwargs) -> httpx.Response:
            answer = await http.request(method, path, **kwargs)
            assert answer.status_code == expected, (method, path, kwargs.get("headers"), answer.status_code,
                                                    answer.text[:300])
            refusals.append((method, path, answer.status_code))
            return answer

        # Who they are: the viewer sees p1 only, the admin both and the dead letters without a program.
        viewer_list = (await http.get("/api/programs", headers=as_("p1-viewer"))).json()
        assert [p["program_id"] for p in viewer_list["programs"]] == ["p1"]
        assert "dead_letters_without_program" not in viewer_list
        admin_list = (await http.get("/api/programs", headers=as_("admin"))).json()
        assert [p["program_id"] for p in admin_list["programs"]] == ["p1", "p2"]
        assert "dead_letters_without_program" in admin_list

        # A forged cookie: the admin's groups, signed with a guessed key; the viewer's cookie tampered with.
        session_key = (up.home / "session-key").read_text().strip()
        for forged in (cookie_of("admin", ["tandem-admins"], key="guessed-key"), cookies["p1-viewer"][:-3] + "AAA",
                       cookie_of("admin", ["tandem-admins"], key=session_key, age=24 * 3600)):
            jar = {"cookie": f"tandem_ops_session={forged}"}
            await refused("GET", "/api/programs", 401, headers=jar)
            await refused("POST", "/api/programs/p2/relationships/r2/nudge", 401, headers={**jar, **same_site})

        # An empty bearer token, and a wrong one.
        for header in ("Bearer", 'Bearer ""', "Bearer wrong"):
            await refused("GET", "/api/programs", 401, headers={"Authorization": header})
            await refused("POST", "/api/programs/p1/relationships/r1/nudge", 401, headers={"Authorization": header})

        # The p1 viewer: p2 does not exist for them (404, read or act), and p1 is read-only (403).
        for path in ("/api/programs/p2/kpis", "/api/programs/p2/relationships", "/api/programs/p2/export.csv",
                     "/dashboard/programs/p2", "/dashboard/programs/p2/relationships?state=all"):
            answer = await refused("GET", path, 404, headers=as_("p1-viewer"))
            assert "Other team" not in answer.text
        for action in ACTIONS:
            body = {"reason": "attack"} if action == "end" else {}
            await refused("POST", f"/api/programs/p2/relationships/r2/{action}", 404,
                          headers=as_("p1-viewer", **same_site), json=body)
            await refused("POST", f"/api/programs/p1/relationships/r1/{action}", 403,
                          headers=as_("p1-viewer", **same_site), json=body)
            await refused("POST", f"/dashboard/programs/p1/relationships/r1/{action}", 403,
                          headers=as_("p1-viewer", **same_site), data=body)

        # CSRF: the admin's browser posting without an Origin, or from another site.
        for action in ACTIONS:
            for origin in (None, "https://evil.example"):
                headers = as_("admin") if origin is None else as_("admin", origin=origin)
                await refused("POST", f"/dashboard/programs/p1/relationships/r1/{action}", 403, headers=headers,
                              data={"reason": "csrf"})
                await refused("POST", f"/api/programs/p2/relationships/r2/{action}", 403, headers=headers,
                              json={"reason": "csrf"})

        # A Host that is not ours (DNS rebinding), with the admin's valid cookie.
        for host in ("evil.example", f"evil.example:{DEFAULT_HTTP_PORTS['feedback']}"):
            await refused("GET", "/api/programs", 400, headers=as_("admin", host=host))
            await refused("POST", "/api/programs/p1/relationships/r1/nudge", 400,
                          headers=as_("admin", host=host, origin=f"http://{host}"))

        # The one legitimate action, by the admin signed in through the provider: when it is on the
        # topic, nothing else is.
        done = await http.post("/api/programs/p2/relationships/r2/nudge", json={"note": "legitimate"},
                               headers=as_("admin", **same_site))
        assert done.status_code == 202 and done.json()["requested_by"] == "ops:admin"
        await commands.wait_for(lambda w: any(o.data.get("note") == "legitimate" for o in w.seen), 60,
                                "the admin's nudge")
        sent = [(o.type, o.data["relationship_id"], o.data["requested_by"]) for o in commands.seen]
        assert sent == [("relationship.nudge.requested", "r2", "ops:admin")], sent
        assert all(400 <= status < 500 for _, _, status in refusals) and len(refusals) > 40


def test_ctrl_c_stops_the_provider_with_the_stack(up):
    port = int(up.issuer.rsplit(":", 1)[1])
    children = psutil.Process(up.proc.pid).children(recursive=True)
    assert any("server.mjs" in " ".join(c.cmdline()) for c in children)
    up.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    assert up.proc.wait(60) == 0
    gone, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, [p.cmdline()[:3] for p in alive]
    assert not in_use(port) and not in_use(DEFAULT_HTTP_PORTS["feedback"])
