"""Shared by the attack suites on the program team's web app (tests/e2e/test_access.py against the
feedback service alone, tests/e2e/test_up_sso.py against `tandem up --sso`): two programs with hostile
names, forged session cookies, and the whole sign-in through a real OpenID Provider."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import httpx
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from shared.contracts import events as ev
from shared.contracts import topics
from tandem.client import Publisher
from tests.support.oidc import sign_in
from tests.support.people import onboarded

SCRIPT = "<script>alert(1)</script>"
RLO = "\u202e"
EVIL_NAME = f"Eve {SCRIPT} {RLO}gpj.exe"
COMMAND_TOPICS = [topics.RELATIONSHIP_COMMANDS, topics.MATCH_REQUESTS]
ACTIONS = ("nudge", "end", "rematch")


async def publish_programs(pub: Publisher, now: datetime) -> None:
    """p1 (a hostile name, an active pair r1 and an ended one r3 with a hostile reason) and p2 (one pair, r2)."""
    await pub.publish(ev.ProgramConfigured(program_id="p1", name=f"Pilot {SCRIPT}{RLO}", timezone="Europe/Amsterdam"))
    await pub.publish(ev.ProgramConfigured(program_id="p2", name="Other team's program", timezone="UTC"))
    for pid, program, extra in [("m1", "p1", {"roles": ("mentor",), "capacity": 2, "name": f"Mallory {SCRIPT}"}),
                                ("e1", "p1", {"name": EVIL_NAME}), ("e3", "p1", {"name": f"{RLO}Trudy"}),
                                ("m2", "p2", {"roles": ("mentor",), "capacity": 2}), ("e2", "p2", {})]:
        await pub.publish(onboarded(pid=pid, program_id=program, **extra))
    for rid, program, mentee, mentor in [("r1", "p1", "e1", "m1"), ("r3", "p1", "e3", "m1"), ("r2", "p2", "e2", "m2")]:
        await pub.publish(ev.MatchEstablished(relationship_id=rid, proposal_id=f"prop-{rid}", program_id=program,
                                              mentee_id=mentee, mentor_id=mentor, established_at=now))
    await pub.publish(ev.MatchEnded(relationship_id="r3", program_id="p1", mentee_id="e3", mentor_id="m1",
                                    reason=f"moved {SCRIPT} {RLO}away", ended_at=now))


async def programs_loaded(http: httpx.AsyncClient, headers: dict[str, str], last: list | None = None) -> bool:
    """True once the service holds what publish_programs sent (one ended pair in p1, one new in each);
    the answers are appended to `last`, to say what was missing when it never is."""
    answers = [await http.get(f"/api/programs/{p}/relationships", params={"state": s}, headers=headers)
               for p, s in (("p1", "ended"), ("p1", "new"), ("p2", "new"))]
    if last is not None:
        last.append([(a.status_code, a.text[:200]) for a in answers])
    return all(a.status_code == 200 and len(a.json()["relationships"]) == 1 for a in answers)


def cookie_of(subject: str, groups: list[str], *, key: str, age: float = 0) -> str:
    """A session cookie as the service makes one, signed with `key`, issued `age` seconds ago."""
    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - age)

    signer = URLSafeTimedSerializer(key, salt="tandem-ops-session", signer=Then)
    return signer.dumps({"sub": subject, "groups": groups, "via": "sso"})


async def sign_in_through_provider(base: str, issuer: str, login: str, password: str) -> str:
    """The whole authorization code + PKCE flow, as a browser does it; returns the session cookie."""
    async with httpx.AsyncClient(base_url=base, headers={"origin": base}) as web:
        started = await web.post("/dashboard/auth/start", data={"next": "/dashboard"})
        assert started.status_code == 302, started.text
        authorize = started.headers["location"]
        assert authorize.startswith(issuer) and "code_challenge=" in authorize
        assert "code_challenge_method=S256" in authorize
        with httpx.Client() as browser:
            back = await asyncio.to_thread(sign_in, browser, authorize, login, password)
        assert back.is_redirect, back.text[:300]
        callback = back.headers["location"]
        assert callback.startswith(f"{base}/dashboard/auth/callback?")
        done = await web.get(callback)
        assert done.status_code == 303 and done.headers["location"] == "/dashboard", done.text
        set_cookie = done.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=lax" in set_cookie
        # The flow's one-time state is gone: the same answer from the provider cannot be used again.
        replay = await web.get(callback)
        assert replay.status_code == 400
        return done.cookies["tandem_ops_session"]
