"""The delivery loop: sends what the delivery log says is due, at most once per delivery, many at a
time, so that a slow endpoint delays only its own messages.

Each pass (`Dispatcher.step`, run by `shared.loops.run_loop`, woken by handlers after they commit
and by sends that end, once half of an endpoint's or of the whole room is free again):
1. Deliveries still `sending` after their lease were interrupted mid-send (the process died). They
   are recorded failed and announced, never sent again: we cannot know whether the mail server
   already took them. Looked for at most once per `delivery_poll_seconds`.
2. Due deliveries are claimed in bulk, as many as there is room for: `delivery_concurrency` sends in
   flight in this process, of which at most `smtp_concurrency` to the mail server and
   `webhook_per_endpoint` to any one webhook endpoint (its URL's host and port). One statement
   locks them (`FOR UPDATE SKIP LOCKED`, so N replicas take disjoint sets), moves each to `sending`
   (as `Delivery.claim` does) and commits, before any of them is sent. Mail and webhooks are looked for
   apart, and an endpoint at its limit is not looked at, so no backlog hides anyone else's work. A
   pass asks for another at once only when its look for webhooks was cut short; otherwise the end
   of a send wakes the next, once half of its endpoint's room is free, so that a pass claims several.
   A crash leaves at most the claimed, still unrecorded sends undecided (then step 1 settles them):
   a handful, never sent twice.
3. Each claimed delivery is sent at once in its own task; the pass does not wait for them. Mail goes
   over a few kept SMTP connections (adapters/smtp_connections.py), as the bytes written when it
   was planned (adapters/mail_format.py). A webhook attempt has a deadline
   for the whole of it (connect, send, answer) and a cap on the answer's size (adapters/senders.py),
   so a trickling or endless endpoint ties up one of its own few slots for at most
   `webhook_timeout_seconds`.
4. Each outcome and its event are recorded (one statement for a batch of outcomes and their events:
   `NotificationsUnitOfWork.record_outcomes`), waiting out the database (`call_until_available`): the
   send has happened, so its outcome must not be lost. The send's slot is free again as soon as it
   ends; its outcome waits a few milliseconds for others (`RECORD_LINGER`), and those that come in
   while a transaction is writing go together in the next one. A send that delivered nothing is tried
   again later (jittered backoff), up to `delivery_max_attempts`.

Each of these steps is one statement, so the loop runs them outside a transaction
(`one_statement_at_a_time`: no BEGIN and COMMIT, one round trip each).

On shutdown the sends in flight get `webhook_timeout_seconds` to finish and be recorded; one still
running after that is left to step 1, as after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import traceback
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

import httpx

from services.notifications.adapters.repository import MAIL_SERVER
from services.notifications.adapters.senders import (
    EmailSender,
    EndpointSecrets,
    GiveUp,
    Sender,
    TryAgain,
    WebhookSender,
    message_of,
)
from services.notifications.adapters.webhook_targets import AllowList
from services.notifications.domain.chat import SLACK, TEAMS, WEBHOOK
from services.notifications.domain.delivery import PENDING, Delivery
from services.notifications.service_layer.attendance import ask_about_attendance
from services.notifications.service_layer.deps import NotificationsDeps
from services.notifications.service_layer.digests import send_digests
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork, one_statement_at_a_time
from services.notifications.settings import NotificationSettings
from shared.clock import ProgramClock
from shared.contracts import events as ev
from shared.loops import Pass, Wakeup, run_loop
from shared.retry import Backoff, call_until_available
from shared.service import Service

log = logging.getLogger(__name__)

# How long a batch of outcomes waits for more while sends are in flight (seconds): at a thousand mails a
# second, a few more per transaction; alone, a mail's outcome is recorded this much later.
RECORD_LINGER = 0.005

# What each step of the loop runs in: a transaction, or (as the service runs it) the repositories
# outside one, as every step is one statement (`one_statement_at_a_time`).
Transaction = Callable[[], AbstractAsyncContextManager[NotificationsUnitOfWork]]


class Dispatcher:
    """The delivery loop's pass (`step`) and the sends it starts; the module docstring says why it is
    safe. `idle` waits for the sends in flight, `close` ends them on shutdown."""

    def __init__(
        self,
        transaction: Transaction,
        clock: ProgramClock,
        settings: NotificationSettings,
        senders: Mapping[str, Sender],
        *,
        wake: Wakeup | None = None,
    ) -> None:
        self.transaction = transaction
        self.clock = clock
        self.settings = settings
        self.senders = senders
        self.wake = wake or Wakeup()  # set when sends end: there is room again
        self._sending: dict[asyncio.Task[None], str] = {}  # send -> its endpoint
        self._per_endpoint: Counter[str] = Counter()
        # Outcomes to record: a send's has no future (nobody waits for it), an interrupted one's does.
        self._unrecorded: list[tuple[Delivery, ev.EventData | None, asyncio.Future[bool] | None]] = []
        self._recorder: asyncio.Task[None] | None = None
        self._settled_at: datetime | None = None  # program time of the last look for interrupted sends
        self._starved = False  # a pass found no room at all: wake it once half the room is free

    async def step(self) -> Pass:
        await self.settle_interrupted()
        claimed, more = await self.claim()
        for delivery, endpoint in claimed:
            self._start(delivery, endpoint)
        room = self.settings.delivery_concurrency - len(self._sending)
        if room <= 0:
            self._starved = True
            return Pass()  # a send that ends wakes the loop
        if more:
            return Pass(more=True)  # the look was cut short: there may be more for endpoints with room
        if self._sending:
            # Nothing more is due for an endpoint with room: a send that ends, new work or the poll
            # wakes the loop (work that falls due meanwhile waits at most a poll interval).
            return Pass()
        async with self.transaction() as uow:
            next_due = await uow.deliveries.next_due()
        if next_due is None or next_due <= self.clock.now():
            # Nothing, or only work locked by another replica: new work or the poll wakes the loop.
            return Pass()
        return Pass(due_in=self.clock.real_seconds_until(next_due))

    async def claim(self) -> tuple[list[tuple[Delivery, str]], bool]:
        """Due deliveries moved to `sending` and committed, as many as there is room for (module
        docstring, step 2), with their endpoints; and whether more may be due."""
        limit = self.settings.delivery_concurrency - len(self._sending)
        if limit <= 0:
            return [], False
        room = {endpoint: self._limit(endpoint) - n for endpoint, n in self._per_endpoint.items() if n}
        room.setdefault(MAIL_SERVER, self.settings.smtp_concurrency)
        async with self.transaction() as uow:
            claimed, more = await uow.deliveries.claim_due(
                self.clock.now(), limit, room=room, default_room=self.settings.webhook_per_endpoint
            )
        return claimed, more

    async def settle_interrupted(self) -> None:
        """Step 1 of the module docstring; at most once per poll interval, as leases are long."""
        now = self.clock.now()
        if self._settled_at is not None and now - self._settled_at < self._program_time(
            self.settings.delivery_poll_seconds
        ):
            return
        self._settled_at = now
        lease = self._program_time(self.settings.sending_lease_seconds)
        async with self.transaction() as uow:
            stuck = await uow.deliveries.interrupted(now - lease, self.settings.delivery_batch)
        await asyncio.gather(*(self._record(delivery, delivery.interrupted(now, lease)) for delivery in stuck))

    async def idle(self) -> None:
        """Until every send started so far has ended and been recorded."""
        while self._sending or (self._recorder is not None and not self._recorder.done()):
            recording = [self._recorder] if self._recorder is not None and not self._recorder.done() else []
            await asyncio.wait([*self._sending, *recording], return_when=asyncio.FIRST_COMPLETED)

    async def close(self, grace: float) -> None:
        """Let the sends in flight end and be recorded for up to `grace` seconds, then cancel the rest
        (their claims are settled as interrupted, module docstring)."""
        deadline = asyncio.get_running_loop().time() + grace
        if self._sending:
            await asyncio.wait(list(self._sending), timeout=grace)
        if self._recorder is not None and not self._recorder.done():
            await asyncio.wait([self._recorder], timeout=max(0.0, deadline - asyncio.get_running_loop().time()))
        late = [*self._sending, *([self._recorder] if self._recorder else [])]
        for task in late:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*late, return_exceptions=True)

    def _limit(self, endpoint: str) -> int:
        return self.settings.smtp_concurrency if endpoint == MAIL_SERVER else self.settings.webhook_per_endpoint

    def _start(self, delivery: Delivery, endpoint: str) -> None:
        task = asyncio.create_task(self._deliver(delivery), name=f"delivery-{delivery.delivery_id}")
        self._sending[task] = endpoint
        self._per_endpoint[endpoint] += 1
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        endpoint = self._sending.pop(task)
        self._per_endpoint[endpoint] -= 1
        left = self._per_endpoint[endpoint]
        if not left:
            del self._per_endpoint[endpoint]
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            log.error("a delivery task ended with %s at %s", type(exc).__name__, _where(exc))
        # Wake the loop once half of this endpoint's room is free again, or half of all the room after a
        # pass found none, so that a pass claims several at once (a claim, a transaction, per few sends).
        if left <= self._limit(endpoint) // 2 or (
            self._starved and len(self._sending) <= self.settings.delivery_concurrency // 2
        ):
            self._starved = False
            self.wake.set()

    async def _deliver(self, delivery: Delivery) -> None:
        # The claim is committed: from here on nobody sends this delivery again. The outcome is recorded
        # after the send's slot is free again (`_ended`), together with others (`_record_waiting`).
        self._unrecorded.append((delivery, await self._send_once(delivery), None))
        self._start_recorder()

    async def _send_once(self, delivery: Delivery) -> ev.EventData | None:
        """One send; the aggregate decides what the answer means (and which event tells of it)."""
        try:
            await self.senders[delivery.channel].send(message_of(delivery))
        except TryAgain as exc:
            return delivery.try_later(
                str(exc), retry_at=self._retry_at(delivery.attempts), max_attempts=self.settings.delivery_max_attempts
            )
        except GiveUp as exc:
            return delivery.fail(str(exc))
        except Exception as exc:
            # The type and place only: the exception's text may quote the address.
            log.error(
                "delivery %s: unexpected %s at %s while sending", delivery.delivery_id, type(exc).__name__, _where(exc)
            )
            return delivery.fail(
                f"unexpected {type(exc).__name__} while sending; not resent, to avoid sending it twice"
            )
        return delivery.delivered(self.clock.now())

    async def _record(self, delivery: Delivery, event: ev.EventData | None) -> bool:
        """Save the outcome the aggregate decided, with its event; False when another process changed
        the delivery first."""
        recorded: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._unrecorded.append((delivery, event, recorded))
        self._start_recorder()
        return await recorded

    def _start_recorder(self) -> None:
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_waiting(), name="delivery-outcomes")

    async def _record_waiting(self) -> None:
        """Write the waiting outcomes, a batch per transaction, until none are left. While sends are
        in flight a batch waits `RECORD_LINGER` for more of them: a transaction (and its commit, and
        the relay's publish of its events) per several mails, not per one or two. The sends already
        happened, so the database being away is waited out."""
        while self._unrecorded:
            if self._sending and len(self._unrecorded) < self.settings.delivery_batch:
                await asyncio.sleep(RECORD_LINGER)
            batch = self._unrecorded[: self.settings.delivery_batch]
            del self._unrecorded[: len(batch)]
            try:
                saved = await call_until_available(
                    "recording deliveries", functools.partial(self._save_outcomes, batch)
                )
            except BaseException as exc:  # a bug, or a stop: the sends waiting on it are told
                waiting = [*batch, *self._unrecorded]
                self._unrecorded.clear()
                for delivery, _, recorded in waiting:
                    if recorded is None:
                        log.error(
                            "delivery %s: its outcome was not recorded (%s)", delivery.delivery_id, type(exc).__name__
                        )
                    elif not recorded.done():
                        if isinstance(exc, Exception):
                            recorded.set_exception(exc)
                        else:
                            recorded.cancel()
                if isinstance(exc, Exception):
                    return  # each waiting send fails with it, and is logged there; its claim is settled
                raise  # as interrupted after its lease, never sent again
            for delivery, event, recorded in batch:
                if delivery.delivery_id in saved:
                    _log_outcome(delivery, event)
                elif recorded is None:
                    # Its lease ran out mid-send and another replica recorded it as interrupted (or our
                    # own commit went through unacknowledged). Either way it is settled, not sent again.
                    log.warning(
                        "delivery %s was settled elsewhere while being sent; outcome %s not recorded here",
                        delivery.delivery_id,
                        delivery.status,
                    )
                if recorded is not None and not recorded.done():
                    recorded.set_result(delivery.delivery_id in saved)

    async def _save_outcomes(self, batch: list[tuple[Delivery, ev.EventData | None, Any]]) -> set[str]:
        async with self.transaction() as uow:
            return await uow.record_outcomes([(delivery, event) for delivery, event, _ in batch])

    def _retry_at(self, attempts: int) -> datetime:
        backoff = Backoff(self.settings.delivery_retry_seconds, self.settings.delivery_retry_max_seconds)
        backoff.failures = attempts - 1  # so the next delay is this delivery's `attempts`-th
        return self.clock.now() + self._program_time(backoff.next_delay())

    def _program_time(self, real_seconds: float) -> timedelta:
        return timedelta(seconds=real_seconds * self.clock.speed)


def _log_outcome(delivery: Delivery, event: ev.EventData | None) -> None:
    if isinstance(event, ev.NotificationFailed):
        log.error("delivery %s to %s failed: %s", delivery.delivery_id, delivery.recipient_id, event.error)
    elif delivery.status == PENDING:
        log.warning(
            "delivery %s to %s delivered nothing, trying again at %s: %s",
            delivery.delivery_id,
            delivery.recipient_id,
            delivery.not_before.isoformat(),
            delivery.last_error,
        )


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


async def deliver_notifications(service: Service) -> None:
    deps: NotificationsDeps = service.deps
    settings = deps.settings
    email = EmailSender(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.mail_from,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        starttls=settings.smtp_starttls,
        timeout=settings.smtp_timeout_seconds,
        connections=settings.smtp_concurrency,
    )
    client = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False)
    secrets, allow = (
        EndpointSecrets(settings.webhook_secret.get_secret_value()),
        AllowList.parse(settings.webhook_allow_hosts),
    )
    senders: dict[str, Sender] = {"email": email}
    for channel in (WEBHOOK, SLACK, TEAMS):
        senders[channel] = WebhookSender(
            channel,
            secrets=secrets,
            allow=allow,
            client=client,
            deadline=settings.webhook_timeout_seconds,
            max_answer_bytes=settings.webhook_max_answer_bytes,
        )
    assert service.pool is not None, "the delivery loop starts after the database"
    statements = functools.partial(
        one_statement_at_a_time,
        service.pool,
        source=f"/tandem/{service.name}",
        clock=service.clock,
        schema=service.schema,
    )
    dispatcher = Dispatcher(statements, service.clock, settings, senders, wake=deps.wake)
    try:
        await run_loop("notifications delivery", dispatcher.step, poll=settings.delivery_poll_seconds, wake=deps.wake)
    finally:
        await dispatcher.close(grace=settings.webhook_timeout_seconds)
        await client.aclose()
        await email.close()


# The digest loop: digests.py; the questions after a meeting: attendance.py.
LOOPS = [deliver_notifications, send_digests, ask_about_attendance]
