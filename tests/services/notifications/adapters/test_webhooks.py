"""Chat webhooks: signed per Standard Webhooks, never sent into our own network, answers told apart.

The signature is checked with the specification's own library (`standardwebhooks`), on a real local
receiver, over plain http (allow-listed) and over real TLS with a local certificate authority.
"""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime

import httpx
import pytest
import trustme
from standardwebhooks.webhooks import WebhookVerificationError

from services.notifications.adapters.senders import EndpointSecrets, GiveUp, Message, TryAgain, WebhookSender
from services.notifications.adapters.webhook_targets import AllowList, TargetRefused, TargetUnresolved, check_target
from tests.support.runtime import eventually
from tests.support.webhooks import WebhookReceiver

SECRETS = EndpointSecrets("deployment-secret")
MESSAGE = Message("delivery-1", "https://chat.example/hooks/T0/B0/xyz", "Goal reached", "Ana reached a goal.", "en")
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def resolving_to(*addresses: str):
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)
    return resolve


async def failing_resolver(host: str, port: int) -> list[str]:
    raise OSError("Name or service not known")


def sender(answer, *, channel="webhook", resolve=resolving_to("93.184.215.14"), seen=None,
           allow=AllowList(), **limits) -> WebhookSender:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if isinstance(answer, Exception):
            raise answer
        if answer.is_stream_consumed:  # an answer given whole: streamed, as one from the network is
            return httpx.Response(answer.status_code, headers=answer.headers, stream=httpx.ByteStream(answer.content))
        return answer
    return WebhookSender(channel, secrets=SECRETS, allow=allow, resolve=resolve,
                         client=httpx.AsyncClient(transport=httpx.MockTransport(handle)),
                         wall_clock=lambda: NOW.timestamp(), **limits)


# --- the guard ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, addresses, rule", [
    ("http://chat.example/hook", ["93.184.215.14"], "not an https URL"),
    ("ftp://chat.example/hook", ["93.184.215.14"], "not an https URL"),
    ("https:///no-host", [], "not an https URL"),
    ("https://localhost/hook", ["127.0.0.1"], "a loopback address"),
    ("https://127.0.0.1/hook", [], "a loopback address"),
    ("https://[::1]/hook", [], "a loopback address"),
    ("https://[::ffff:127.0.0.1]/hook", [], "a loopback address"),
    ("https://169.254.169.254/latest/meta-data", [], "a link-local address"),
    ("https://intranet.example/hook", ["10.1.2.3"], "a private address"),
    ("https://intranet.example/hook", ["192.168.0.10"], "a private address"),
    ("https://intranet.example/hook", ["fd00::1"], "a private address"),
    ("https://cgnat.example/hook", ["100.64.0.1"], "not on the public internet"),
    ("https://0.0.0.0/hook", [], "an unspecified address"),
    # One internal address among public ones is enough to refuse: the connection could go there.
    ("https://mixed.example/hook", ["93.184.215.14", "10.0.0.1"], "a private address"),
])
async def test_internal_and_plain_targets_are_refused(url, addresses, rule):
    with pytest.raises(TargetRefused, match=rule) as refused:
        await check_target(url, AllowList(), resolving_to(*addresses))
    assert url not in str(refused.value) and not any(a in str(refused.value) for a in addresses)


async def test_a_public_https_target_is_pinned_to_the_address_that_was_checked():
    target = await check_target("https://chat.example:8443/hooks/x?a=1", AllowList(), resolving_to("93.184.215.14"))
    assert str(target.request_url()) == "https://93.184.215.14:8443/hooks/x?a=1"
    assert target.host_header == "chat.example:8443" and target.server_name == "chat.example"


@pytest.mark.parametrize("allow, url, addresses", [
    ("127.0.0.1", "http://127.0.0.1:9000/hook", []),
    ("10.20.0.0/16", "https://chat.corp.example/hook", ["10.20.3.4"]),
    ("chat.corp.example", "http://chat.corp.example/hook", ["10.20.3.4"]),
])
async def test_the_allow_list_permits_what_a_deployment_names(allow, url, addresses):
    await check_target(url, AllowList.parse(allow), resolving_to(*addresses))


async def test_a_host_that_does_not_resolve_is_tried_again_later():
    with pytest.raises(TargetUnresolved):
        await check_target("https://gone.example/hook", AllowList(), failing_resolver)


# --- the sender --------------------------------------------------------------------------------------

async def test_a_message_is_signed_per_standard_webhooks():
    from standardwebhooks.webhooks import Webhook

    seen: list[httpx.Request] = []
    await sender(httpx.Response(204), seen=seen).send(MESSAGE)
    (request,) = seen
    assert request.url.host == "93.184.215.14" and request.headers["host"] == "chat.example"
    assert request.extensions["sni_hostname"] == "chat.example"
    headers = dict(request.headers)
    assert headers["webhook-id"] == headers["idempotency-key"] == "delivery-1"
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    # Verified as a receiver would, with this endpoint's secret, within the library's 5-minute window.
    secret = SECRETS.secret_for(MESSAGE.address)
    body = request.content.decode()
    expected = Webhook(secret).sign("delivery-1", NOW, body)
    assert headers["webhook-signature"] == expected
    assert httpx.Response(200, content=request.content).json() == {
        "type": "notification.sent", "timestamp": "2027-03-01T09:00:00+00:00",
        "data": {"id": "delivery-1", "subject": "Goal reached", "text": "Ana reached a goal.", "language": "en"}}


def test_each_endpoint_has_its_own_secret():
    one, other = SECRETS.secret_for("https://a.example/h"), SECRETS.secret_for("https://b.example/h")
    assert one.startswith("whsec_") and other.startswith("whsec_") and one != other
    assert EndpointSecrets("another-deployment").secret_for("https://a.example/h") != one
    assert SECRETS.secret_for("https://a.example/h") == one  # stable, so a receiver set up once stays valid


async def test_slack_and_teams_get_their_own_formats():
    for channel, check in (("slack", lambda b: b["blocks"][0]["text"]["text"] == "Goal reached"),
                           ("teams", lambda b: b["attachments"][0]["content"]["type"] == "AdaptiveCard")):
        seen: list[httpx.Request] = []
        await sender(httpx.Response(200, text="ok"), channel=channel, seen=seen).send(MESSAGE)
        assert check(httpx.Response(200, content=seen[0].content).json()), channel
        assert seen[0].headers["webhook-signature"].startswith("v1,")


@pytest.mark.parametrize("answer, outcome, reason", [
    (httpx.Response(404, text=f"no channel for {MESSAGE.address}"), GiveUp, "the webhook refused the message (404)"),
    (httpx.Response(410, text="channel_is_archived"), GiveUp, "the webhook refused the message (410)"),
    (httpx.Response(302, headers={"location": "http://169.254.169.254/"}), GiveUp,
     "the webhook answered with a redirect (302), which is not followed"),
    (httpx.Response(503), TryAgain, "the webhook answered 503"),
    (httpx.Response(429), TryAgain, "the webhook answered 429"),
    (httpx.Response(408), TryAgain, "the webhook answered 408"),
    (httpx.ConnectError("https://chat.example/hooks/secret-token unreachable"), TryAgain,
     "the webhook could not be reached (ConnectError)"),
    (httpx.ReadTimeout("timed out"), TryAgain, "the webhook could not be reached (ReadTimeout)"),
])
async def test_answers_are_reported_by_code_only(answer, outcome, reason):
    with pytest.raises(outcome) as failed:
        await sender(answer).send(MESSAGE)
    assert str(failed.value) == reason


async def test_a_refused_target_is_given_up_and_never_contacted():
    seen: list[httpx.Request] = []
    with pytest.raises(GiveUp, match="a link-local address"):
        await sender(httpx.Response(204), seen=seen, resolve=resolving_to("169.254.169.254")).send(MESSAGE)
    assert seen == []


async def test_an_unresolved_host_is_tried_again():
    with pytest.raises(TryAgain, match="could not be resolved"):
        await sender(httpx.Response(204), resolve=failing_resolver).send(MESSAGE)


class EndlessAnswer:
    """An answer body that never ends, counting what the sender pulled from it; `pause` between chunks."""

    def __init__(self, chunk: bytes, pause: float = 0.0) -> None:
        self.chunk, self.pause, self.pulled = chunk, pause, 0

    async def __aiter__(self):
        while True:
            if self.pause:
                await asyncio.sleep(self.pause)
            self.pulled += len(self.chunk)
            yield self.chunk


async def test_a_long_answer_is_read_no_further_than_the_cap_and_fails_without_its_content():
    body = EndlessAnswer(b"secret-answer " * 1000)
    with pytest.raises(GiveUp) as failed:
        await sender(httpx.Response(200, content=body), max_answer_bytes=64 * 1024).send(MESSAGE)
    assert str(failed.value) == ("the webhook answered 200 with more than 65536 bytes (answer_too_large); "
                                 "not resent")
    assert body.pulled <= 64 * 1024 + len(body.chunk)


async def test_an_answer_that_trickles_past_the_deadline_is_tried_again():
    body = EndlessAnswer(b"x", pause=0.05)  # each byte well within any per-read timeout
    with pytest.raises(TryAgain) as failed:
        await sender(httpx.Response(200, content=body), deadline=0.5).send(MESSAGE)
    assert str(failed.value) == "the webhook did not answer in full within 0.5 s (deadline_exceeded)"
    assert 0 < body.pulled < 1000


# --- real receivers ------------------------------------------------------------------------------------

def real_sender(channel: str = "webhook", *, allow: str = "", verify: ssl.SSLContext | bool = True) -> WebhookSender:
    return WebhookSender(channel, secrets=SECRETS, allow=AllowList.parse(allow),
                         client=httpx.AsyncClient(timeout=5, verify=verify))


async def test_a_local_receiver_verifies_the_signature_and_a_wrong_secret_fails():
    with WebhookReceiver() as hook:
        message = Message("delivery-2", hook.url, "Hallo", "Ana heeft een doel bereikt.", "nl")
        await real_sender(allow="127.0.0.1").send(message)
    (got,) = hook.received
    assert got.verified_with(SECRETS.secret_for(hook.url))["data"]["text"] == "Ana heeft een doel bereikt."
    with pytest.raises(WebhookVerificationError):
        got.verified_with(EndpointSecrets("someone-else").secret_for(hook.url))


async def test_the_same_local_receiver_is_refused_without_the_allow_list():
    with WebhookReceiver() as hook:
        with pytest.raises(GiveUp, match="not an https URL"):
            await real_sender().send(Message("delivery-3", hook.url, "Hi", "Text", "en"))
        https_url = hook.url.replace("http://", "https://")
        with pytest.raises(GiveUp, match="a loopback address"):
            await real_sender().send(Message("delivery-4", https_url, "Hi", "Text", "en"))
    assert hook.received == []


async def test_over_tls_the_pinned_address_still_checks_the_certificate_against_the_host_name():
    authority = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(server)
    client = ssl.create_default_context()
    authority.configure_trust(client)
    with WebhookReceiver(host="localhost", tls=server) as hook:
        # The URL names localhost; the connection goes to the checked 127.0.0.1 with SNI localhost.
        await real_sender(allow="localhost", verify=client).send(Message("delivery-5", hook.url, "Hi", "Text", "en"))
        assert hook.received[0].headers["host"] == f"localhost:{hook.port}"
        assert hook.received[0].verified_with(SECRETS.secret_for(hook.url))
        # A certificate for another name is not accepted, although the address is the same.
        other = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("chat.example").configure_cert(other)
    with WebhookReceiver(host="localhost", tls=other) as wrong:
        with pytest.raises(TryAgain, match="ConnectError"):
            await real_sender(allow="localhost", verify=client).send(Message("delivery-6", wrong.url, "Hi", "T", "en"))
    assert wrong.received == []


async def test_a_real_100_mb_answer_is_left_after_the_cap():
    cap = 64 * 1024
    with WebhookReceiver(answer_size=100 * 1024 * 1024) as hook:
        client = httpx.AsyncClient(timeout=5)
        sender = WebhookSender("webhook", secrets=SECRETS, allow=AllowList.parse("127.0.0.1"), client=client,
                               max_answer_bytes=cap)
        with pytest.raises(GiveUp, match="answer_too_large"):
            await sender.send(Message("delivery-7", hook.url, "Hi", "Text", "en"))
        await client.aclose()
        await eventually(lambda: _true(hook.gone), 10, "the receiver to see the sender leave")
    # What the receiver wrote before the sender left: the cap, plus what the kernel buffers held
    # (its 16 KiB send buffer and the sender's receive window), not the 100 MB.
    assert hook.answer_written < cap + 8 * 1024 * 1024


async def test_a_real_trickling_answer_is_left_at_the_deadline():
    with WebhookReceiver(trickle=0.5) as hook:
        client = httpx.AsyncClient(timeout=5)  # every byte comes well within the read timeout
        sender = WebhookSender("webhook", secrets=SECRETS, allow=AllowList.parse("127.0.0.1"), client=client,
                               deadline=2.0)
        with pytest.raises(TryAgain, match="deadline_exceeded"):
            await sender.send(Message("delivery-8", hook.url, "Hi", "Text", "en"))
        await client.aclose()
        assert hook.posts == 1 and 0 < hook.answer_written < 100


async def _true(value) -> bool:
    return bool(value)
