"""Attacks on the program team's web app, against the feedback service running as its own process on
the real Postgres and Kafka, signed in through a real OpenID Provider (node-oidc-provider): forged
and expired cookies, empty, revoked and expired tokens, other programs' data and actions, CSRF,
script tags and right-to-left overrides in names and reasons, Host and Origin tricks. Each gets a
4xx, and no command leaves: the command topics end up holding only the legitimate actions. Then a
person signs in through the provider's own login form in Chromium and sees only their program."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from shared.clock import ProgramClock
from shared.outbox import events_written
from tandem.client import Publisher, Watcher
from tandem.local.stack import Services, free_http_ports
from tests.support.access import (ACTIONS, COMMAND_TOPICS, RLO, SCRIPT, cookie_of, programs_loaded,
                                  publish_programs, sign_in_through_provider)
from tests.support.runtime import eventually, fetch

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
START = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)
SESSION_KEY = "attack-suite-session-key-" + uuid.uuid4().hex
OPS_TOKEN = "attack-suite-ops-" + uuid.uuid4().hex
ROLE_MAP = {"tandem-program-p1-admins": {"p1": "program-admin"},
            "tandem-program-p1-viewers": {"p1": "program-viewer"},
            "tandem-program-p2-admins": {"p2": "program-admin"},
            "tandem-admins": "tandem-admin"}


@pytest.fixture
def feedback(infrastructure, database_url, topic_prefix, tmp_path, oidc_provider):
    """The feedback service alone, as a process, with single sign-on, the role map and break-glass."""
    clock = ProgramClock(start=START, speed=1.0)
    services = Services.on(
        database_url=database_url, bootstrap_servers=infrastructure.bootstrap_servers,
        smtp_port=infrastructure.smtp_port, http_ports=free_http_ports(), log_dir=tmp_path / "logs",
        topic_prefix=topic_prefix, clock_env=clock.env(),
        extra={"TANDEM_OUTBOX_POLL_SECONDS": "0.2", "TANDEM_DASHBOARD_REFRESH_SECONDS": "1",
               "TANDEM_OIDC_ISSUER": oidc_provider.issuer, "TANDEM_OIDC_CLIENT_ID": oidc_provider.client_id,
               "TANDEM_OIDC_CLIENT_SECRET": oidc_provider.client_secret, "TANDEM_OIDC_PROVIDER_NAME": "Example ID",
               "TANDEM_OPS_SESSION_KEY": SESSION_KEY, "TANDEM_OPS_TOKEN": OPS_TOKEN,
               "TANDEM_ROLE_MAP": json.dumps(ROLE_MAP), "TANDEM_OPS_SESSION_HOURS": "1"})
    (process,) = services.of(("feedback",))
    process.start()
    try:
        services.wait_ready(timeout=90, names=("feedback",))
        yield process, clock
    finally:
        process.stop()


def _token(database_url: str, *args: str) -> str:
    """`tandem token ...` as an operator runs it; its output."""
    done = subprocess.run([sys.executable, "-m", "tandem.cli", "token", *args], capture_output=True, text=True,
                          env={**os.environ, "DATABASE_URL": database_url}, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _issued(output: str) -> tuple[str, str]:
    fields = dict(line.split(": ", 1) for line in output.splitlines() if ": " in line)
    return fields["id"], fields["token"]


async def test_every_attack_gets_a_4xx_and_publishes_nothing(feedback, oidc_provider, infrastructure, database_url,
                                                             topic_prefix):
    process, clock = feedback
    base = f"http://127.0.0.1:{process.port}"
    bootstrap = infrastructure.bootstrap_servers
    async with Publisher(bootstrap, topic_prefix=topic_prefix, now=clock.now) as pub, \
            Watcher(bootstrap, COMMAND_TOPICS, topic_prefix) as commands, \
            httpx.AsyncClient(base_url=base, timeout=20) as http:
        await publish_programs(pub, clock.now())
        root = {"Authorization": f"Bearer {OPS_TOKEN}"}
        last: list = []
        try:
            await eventually(lambda: programs_loaded(http, root, last), 60, "both programs' relationships")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {last[-1:]}") from None

        cookies = {login: await sign_in_through_provider(base, oidc_provider.issuer, login,
                                                         oidc_provider.password(login))
                   for login in ("ana", "ben", "cleo", "root", "nobody")}
        same_site = {"origin": base}

        def as_(login: str, **headers: str) -> dict[str, str]:
            return {"cookie": f"tandem_ops_session={cookies[login]}", **headers}

        refusals: list[tuple[str, str, int]] = []

        async def refused(method: str, path: str, expected: int | tuple[int, ...], **kwargs) -> httpx.Response:
            answer = await http.request(method, path, **kwargs)
            wanted = expected if isinstance(expected, tuple) else (expected,)
            assert answer.status_code in wanted, (method, path, kwargs.get("headers"), answer.status_code,
                                                  answer.text[:300])
            refusals.append((method, path, answer.status_code))
            return answer

        def action_body(action: str) -> dict:
            return {"data": {"reason": "attack"}} if action == "end" else {}

        # Nothing configured for the caller: no cookie, no token.
        await refused("GET", "/api/programs", 401)
        await refused("GET", "/api/programs/p1/export.csv", 401)
        assert (await refused("GET", "/dashboard/programs/p1", 303)).headers["location"].startswith(
            "/dashboard/sign-in")
        await refused("GET", "/dashboard/programs/p1/overview", 401, headers={"hx-request": "true"})
        for action in ACTIONS:
            path = f"/dashboard/programs/p1/relationships/r1/{action}"
            await refused("POST", path, 403, **action_body(action))  # no Origin
            await refused("POST", path, 401, headers=same_site, **action_body(action))  # no cookie

        # Forged cookies: another key, a tampered payload, garbage; an expired one with the right key.
        forged = [cookie_of("root", ["tandem-admins"], key="guessed-key"),
                  cookies["ben"][:-3] + "AAA", "e30.AAAA.BBBB", "",
                  cookie_of("root", ["tandem-admins"], key=SESSION_KEY, age=2 * 3600)]
        _, _, rest = cookies["ben"].partition(".")  # keep the time and signature, swap the payload
        forged.append("eyJzdWIiOiJyb290IiwiZ3JvdXBzIjpbInRhbmRlbS1hZG1pbnMiXSwidmlhIjoic3NvIn0." + rest)
        for cookie in forged:
            jar = {"cookie": f"tandem_ops_session={cookie}"}
            await refused("GET", "/api/programs", 401, headers=jar)
            await refused("GET", "/dashboard/programs/p1", 303, headers=jar)
            await refused("POST", "/api/programs/p1/relationships/r1/nudge", 401, headers={**jar, **same_site})

        # Empty and wrong tokens, at the API and at the break-glass form.
        for header in ("Bearer", 'Bearer ""', "Bearer wrong", f"Basic {OPS_TOKEN}", OPS_TOKEN,
                       f"Bearer {OPS_TOKEN}x", "Bearer tandem_" + "A" * 43):
            await refused("GET", "/api/programs", 401, headers={"Authorization": header})
            await refused("POST", "/api/programs/p1/relationships/r1/nudge", 401, headers={"Authorization": header})
        for token in ("", " ", "wrong"):
            await refused("POST", "/dashboard/sign-in", 401, data={"token": token}, headers=same_site)

        # API tokens, made with the CLI: a viewer of p1, an admin of p1, a revoked and an expired one.
        viewer_id, viewer = _issued(_token(database_url, "create", "--program", "p1", "--role", "program-viewer",
                                           "--expires", "90d", "--name", "reporting"))
        admin_id, admin = _issued(_token(database_url, "create", "--program", "p1", "--role", "program-admin",
                                         "--expires", "1h"))
        revoked_id, revoked = _issued(_token(database_url, "create", "--program", "p1", "--role", "program-admin",
                                             "--expires", "1d"))
        expired_id, expired = _issued(_token(database_url, "create", "--role", "tandem-admin", "--expires", "1h"))
        assert f"revoked {revoked_id}" in _token(database_url, "revoke", revoked_id)
        owner_url = database_url
        await fetch(owner_url, "UPDATE feedback.api_tokens SET expires_at = now() - interval '1 second' "
                               "WHERE token_id = $1", expired_id)
        listing = _token(database_url, "list")
        assert viewer not in listing and admin not in listing and "4 tokens" in listing
        assert any(line.startswith(revoked_id) and "\trevoked\t" in line for line in listing.splitlines())
        assert any(line.startswith(expired_id) and "\texpired\t" in line for line in listing.splitlines())
        stored = await fetch(owner_url, "SELECT token_sha256 FROM feedback.api_tokens")
        assert all(viewer.encode() not in bytes(r["token_sha256"]) for r in stored)
        for dead in (revoked, expired):
            await refused("GET", "/api/programs", 401, headers={"Authorization": f"Bearer {dead}"})
            await refused("POST", "/api/programs/p1/relationships/r1/nudge", 401,
                          headers={"Authorization": f"Bearer {dead}"})

        # Cross-program reads: p2 does not exist for p1's viewer or admin (ben, ana, their tokens), nor p1 for
        # p2's admin (cleo); nobody sees either.
        readers = {"ben": as_("ben"), "ana": as_("ana"), "viewer token": {"Authorization": f"Bearer {viewer}"},
                   "admin token": {"Authorization": f"Bearer {admin}"}, "cleo": as_("cleo"), "nobody": as_("nobody")}
        hidden = {"ben": ["p2"], "ana": ["p2"], "viewer token": ["p2"], "admin token": ["p2"], "cleo": ["p1"],
                  "nobody": ["p1", "p2"]}
        for who, headers in readers.items():
            for program in hidden[who]:
                for path in (f"/api/programs/{program}/kpis", f"/api/programs/{program}/relationships",
                             f"/api/programs/{program}/export.csv", f"/dashboard/programs/{program}",
                             f"/dashboard/programs/{program}/overview",
                             f"/dashboard/programs/{program}/relationships?state=all"):
                    answer = await refused("GET", path, 404, headers=headers)
                    assert answer.text.count(program) <= 1 and "Other team" not in answer.text and "Pilot" not in answer.text
                fragment = await refused("GET", f"/dashboard/programs/{program}/relationships", 404,
                                         headers={**headers, "hx-request": "true"})
                assert "<html" not in fragment.text
                for action in ACTIONS:  # acting on a program one cannot see: it does not exist either
                    relationship = "r1" if program == "p1" else "r2"
                    await refused("POST", f"/api/programs/{program}/relationships/{relationship}/{action}", 404,
                                  headers={**headers, **same_site},
                                  json={"reason": "attack"} if action == "end" else {})
            listed = (await http.get("/api/programs", headers=headers)).json()
            assert sorted(p["program_id"] for p in listed["programs"]) == sorted(
                {"p1", "p2"} - set(hidden[who])), who
            assert "dead_letters_without_program" not in listed, who
        empty = await http.get("/dashboard", headers=as_("nobody"))
        assert empty.status_code == 200 and "No programs for you" in empty.text and "Pilot" not in empty.text
        assert (await http.get("/dashboard", headers=as_("ben"))).headers["location"] == "/dashboard/programs/p1"
        assert (await http.get("/dashboard", headers=as_("cleo"))).headers["location"] == "/dashboard/programs/p2"
        root_list = (await http.get("/api/programs", headers=as_("root"))).json()
        assert [p["program_id"] for p in root_list["programs"]] == ["p1", "p2"]
        assert "dead_letters_without_program" in root_list

        # Viewers read but may not act: 403 from the dashboard and the API, for a person and a token.
        for headers in (as_("ben", **same_site), {"Authorization": f"Bearer {viewer}"}):
            assert (await http.get("/api/programs/p1/kpis", headers=headers)).status_code == 200
            for action in ACTIONS:
                await refused("POST", f"/api/programs/p1/relationships/r1/{action}", 403, headers=headers,
                              json={"reason": "attack"} if action == "end" else {})
                await refused("POST", f"/dashboard/programs/p1/relationships/r1/{action}", 403, headers=headers,
                              data={"reason": "attack"} if action == "end" else {})
        page = (await http.get("/dashboard/programs/p1", headers=as_("ben"))).text
        assert 'id="nudge-r1"' not in page and "/relationships/r1/nudge" not in page

        # CSRF: a signed-in admin's browser tricked into posting, on every POST the dashboard and API take.
        posts = [f"/{area}/programs/p1/relationships/r1/{action}" for area in ("dashboard", "api") for action in ACTIONS]
        posts += ["/dashboard/sign-in", "/dashboard/sign-out", "/dashboard/auth/start"]
        for path in posts:
            for origin in (None, "null", "https://evil.example", f"{base}.evil.example", base.replace("http:", "https:"),
                           f"http://localhost:{process.port}"):
                headers = as_("ana") if origin is None else as_("ana", origin=origin)
                await refused("POST", path, 403, headers=headers, data={"reason": "csrf", "token": OPS_TOKEN})

        # Host header and Origin tricks (DNS rebinding): a valid cookie on a host that is not ours.
        for host in ("evil.example", f"evil.example:{process.port}", f"127.0.0.1.evil.example:{process.port}"):
            for method, path in [("GET", "/api/programs"), ("GET", "/dashboard/programs/p1"),
                                 ("GET", "/dashboard/sign-in"), ("POST", "/api/programs/p1/relationships/r1/nudge"),
                                 ("POST", "/dashboard/programs/p1/relationships/r1/nudge")]:
                await refused(method, path, 400, headers=as_("ana", host=host, origin=f"http://{host}"))
                await refused(method, path, 400, headers={"host": host, "Authorization": f"Bearer {OPS_TOKEN}"})

        # Names and reasons: escaped, never a raw tag, and no right-to-left override reaches the page.
        for path in ("/dashboard/programs/p1", "/dashboard/programs/p1/overview",
                     "/dashboard/programs/p1/relationships?state=all", "/dashboard/programs/p1/relationships?state=ended",
                     f"/dashboard/programs/{SCRIPT}{RLO}", "/dashboard/programs/p1/relationships?state=%3Cscript%3E"):
            for extra in ({}, {"hx-request": "true"}):
                answer = await http.get(path, headers=as_("ana", **extra))
                assert answer.status_code in (200, 400, 404), (path, answer.status_code)
                assert "<script>alert" not in answer.text and RLO not in answer.text, (path, extra)
        page = (await http.get("/dashboard/programs/p1/relationships?state=all", headers=as_("ana"))).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "Eve" in page and "\ufffdgpj.exe" in page
        assert "Mallory" in page and "\ufffdaway" in page and "\ufffdTrudy" in page
        main = (await http.get("/dashboard/programs/p1", headers=as_("ana"))).text
        assert "Pilot &lt;script&gt;" in main

        # A form field or header naming someone else changes nothing: the audit trail names the signed-in subject.
        nudged = await http.post("/dashboard/programs/p1/relationships/r1/nudge", data={"user": "mallory"},
                                 headers=as_("ana", origin=base, **{"X-Tandem-User": "mallory", "hx-request": "true"}))
        assert nudged.status_code == 200 and "ops:ana" in nudged.text and "mallory" not in nudged.text
        by_token = await http.post("/api/programs/p1/relationships/r1/nudge", json={},
                                   headers={"Authorization": f"Bearer {admin}", "X-Tandem-User": "mallory"})
        assert by_token.status_code == 202 and by_token.json()["requested_by"] == f"token:{admin_id}"
        await refused("POST", "/api/programs/p1/relationships/r1/nudge", 400,
                      headers={"Authorization": f"Bearer {admin}"}, json={"user": "mallory"})
        by_cleo = await http.post("/api/programs/p2/relationships/r2/nudge", json={}, headers=as_("cleo", origin=base))
        assert by_cleo.status_code == 202 and by_cleo.json()["requested_by"] == "ops:cleo"

        # The last legitimate action leaves after everything above was refused or done: when it is on the topic,
        # the topics hold exactly the three legitimate commands.
        last = await http.post("/api/programs/p2/relationships/r2/nudge", json={"note": "last"},
                               headers={"Authorization": f"Bearer {OPS_TOKEN}"})
        assert last.status_code == 202 and last.json()["requested_by"] == "ops:break-glass"
        await commands.wait_for(lambda w: any(o.data.get("note") == "last" for o in w.seen), 60, "the last nudge")
        sent = sorted((o.type, o.data["relationship_id"], o.data["requested_by"]) for o in commands.seen)
        assert sent == sorted([("relationship.nudge.requested", "r1", "ops:ana"),
                               ("relationship.nudge.requested", "r1", f"token:{admin_id}"),
                               ("relationship.nudge.requested", "r2", "ops:cleo"),
                               ("relationship.nudge.requested", "r2", "ops:break-glass")]), sent
        # Nor did anything refused leave a command waiting in the outbox, or an action in the audit trail.
        outbox = await fetch(owner_url, f"SELECT coalesce(sum(n), 0) AS n FROM ({events_written('feedback')}) w "
                                        "WHERE topic = ANY($1::text[])",
                             [*COMMAND_TOPICS, *(topic_prefix + t for t in COMMAND_TOPICS)])
        audit = await fetch(owner_url, "SELECT requested_by FROM feedback.ops_actions ORDER BY 1")
        assert outbox[0]["n"] == 4 and [r["requested_by"] for r in audit] == sorted(
            ["ops:ana", f"token:{admin_id}", "ops:cleo", "ops:break-glass"])
        assert all(400 <= status < 500 for _, _, status in refusals if status != 303)
        assert len(refusals) > 200  # the loops above ran


if os.path.exists(CHROMIUM):
    async def test_a_person_signs_in_through_the_provider_and_sees_only_their_programs(
            feedback, oidc_provider, infrastructure, topic_prefix):
        from playwright.async_api import async_playwright

        process, clock = feedback
        base = f"http://127.0.0.1:{process.port}"
        async with Publisher(infrastructure.bootstrap_servers, topic_prefix=topic_prefix, now=clock.now) as pub, \
                httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {OPS_TOKEN}"}) as api, \
                async_playwright() as pw:
            await publish_programs(pub, clock.now())

            async def loaded():
                answer = await api.get("/api/programs")
                return answer.status_code == 200 and len(answer.json()["programs"]) == 2

            await eventually(loaded, 60, "both programs")
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                await page.goto(f"{base}/dashboard")
                assert "/dashboard/sign-in" in page.url
                assert await page.locator("#sign-in-sso").inner_text() == "Sign in with Example ID"
                await page.click("#sign-in-sso")
                await page.wait_for_url(f"{oidc_provider.issuer}/**")
                await page.fill("#login", "ben")
                await page.fill("#password", oidc_provider.password("ben"))
                await page.click("button[type=submit]")
                await page.wait_for_url(f"{base}/dashboard/programs/p1*")
                assert await page.locator("h1").inner_text() == f"Pilot {SCRIPT}\ufffd"
                options = await page.eval_on_selector_all("#program-picker option", "els => els.map(e => e.value)")
                assert options == ["p1"]
                assert "Signed in as" in await page.locator("header").inner_text()
                assert await page.locator("#nudge-r1").count() == 0  # a viewer: no actions offered
                other = await page.goto(f"{base}/dashboard/programs/p2")
                assert other.status == 404 and "Other team" not in await page.content()
                # Signing out ends the session: the dashboard asks to sign in again.
                await page.goto(f"{base}/dashboard/programs/p1")
                await page.click(".sign-out button")
                await page.wait_for_url(f"{base}/dashboard/sign-in*")
                await page.goto(f"{base}/dashboard/programs/p1")
                assert "/dashboard/sign-in" in page.url
            finally:
                await browser.close()
