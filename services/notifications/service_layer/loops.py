"""The delivery loop: sends what the delivery log says is due, at most once per delivery.

Each pass (`Dispatcher.step`, run by `shared.loops.run_loop`, woken by handlers after they commit):
1. Deliveries still `sending` after their lease were interrupted mid-send (the process died). They
   are recorded failed and announced, never sent again: we cannot know whether the mail server
   already took them.
2. Due deliveries go out one at a time. Each is claimed (`Delivery.claim`) and committed right
   before its own send, by an atomic conditional UPDATE: with N replicas exactly one of them sends
   it, and a crash leaves at most the message in flight undecided (then step 1 settles it).
3. The outcome and its event are recorded in one transaction, waiting out the database
   (`call_until_available`): the send has happened, so its outcome must not be lost. A send that
   delivered nothing is tried again later (jittered backoff), up to `delivery_max_attempts`.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

import httpx

from services.notifications.adapters.senders import (
    EmailSender,
    EndpointSecrets,
    GiveUp,
    Message,
    Sender,
    TryAgain,
    WebhookSender,
)
from services.notifications.adapters.webhook_targets import AllowList
from services.notifications.domain.chat import SLACK, TEAMS, WEBHOOK
from services.notifications.domain.delivery import PENDING, Delivery
from services.notifications.service_layer.attendance import ask_about_attendance
from services.notifications.service_layer.deps import NotificationsDeps
from services.notifications.service_layer.digests import send_digests
from services.notifications.service_layer.unit_of_work import NotificationsUnitOfWork
from services.notifications.settings import NotificationSettings
from shared.clock import ProgramClock
from shared.contracts import events as ev
from shared.loops import Pass, run_loop
from shared.retry import Backoff, call_until_available
from shared.service import Service

log = logging.getLogger(__name__)

Transaction = Callable[[], AbstractAsyncContextManager[NotificationsUnitOfWork]]


class Dispatcher:
    """One pass of the delivery loop (`step`); the module docstring says why it is safe."""

    def __init__(self, transaction: Transaction, clock: ProgramClock, settings: NotificationSettings,
                 senders: Mapping[str, Sender]) -> None:
        self.transaction = transaction
        self.clock = clock
        self.settings = settings
        self.senders = senders

    async def step(self) -> Pass:
        await self.settle_interrupted()
        async with self.transaction() as uow:
            due = await uow.deliveries.due(self.clock.now(), self.settings.delivery_batch)
        for delivery in due:
            await self.send(delivery)
        if len(due) >= self.settings.delivery_batch:
            return Pass(more=True)
        async with self.transaction() as uow:
            next_due = await uow.deliveries.next_due()
        return Pass(due_in=None if next_due is None else self.clock.real_seconds_until(next_due))

    async def settle_interrupted(self) -> None:
        now = self.clock.now()
        lease = self._program_time(self.settings.sending_lease_seconds)
        async with self.transaction() as uow:
            stuck = await uow.deliveries.interrupted(now - lease, self.settings.delivery_batch)
        for delivery in stuck:
            await self._record(delivery, delivery.interrupted(now, lease))

    async def send(self, delivery: Delivery) -> None:
        delivery.claim(self.clock.now())
        async with self.transaction() as uow:
            claimed = await uow.deliveries.save(delivery)
        if not claimed:
            return  # another replica claimed it first
        # The claim is committed: from here on nobody sends this delivery again.
        if not await self._record(delivery, await self._send_once(delivery)):
            # Its lease ran out mid-send and another replica recorded it as interrupted (or our own
            # commit went through unacknowledged). Either way it is settled, and not sent again.
            log.warning("delivery %s was settled elsewhere while being sent; outcome %s not recorded here",
                        delivery.delivery_id, delivery.status)

    async def _send_once(self, delivery: Delivery) -> ev.EventData | None:
        """One send; the aggregate decides what the answer means (and which event tells of it)."""
        message = Message(delivery.delivery_id, delivery.address, delivery.subject, delivery.body,
                          delivery.language, delivery.attachment, html=delivery.html,
                          unsubscribe_url=delivery.unsubscribe_url)
        try:
            await self.senders[delivery.channel].send(message)
        except TryAgain as exc:
            return delivery.try_later(str(exc), retry_at=self._retry_at(delivery.attempts),
                                      max_attempts=self.settings.delivery_max_attempts)
        except GiveUp as exc:
            return delivery.fail(str(exc))
        except Exception as exc:  # noqa: BLE001 (a bug: whether it went out is unknown, so never again)
            # The type and place only: the exception's text may quote the address.
            log.error("delivery %s: unexpected %s at %s while sending", delivery.delivery_id, type(exc).__name__,
                      _where(exc))
            return delivery.fail(f"unexpected {type(exc).__name__} while sending; not resent, "
                                 "to avoid sending it twice")
        return delivery.delivered(self.clock.now())

    async def _record(self, delivery: Delivery, event: ev.EventData | None) -> bool:
        """Save the outcome the aggregate decided, with its event; False when another process changed
        the delivery first. The send already happened, so the database being away is waited out."""

        async def record() -> bool:
            async with self.transaction() as uow:
                saved = await uow.deliveries.save(delivery)
                if saved and event is not None:
                    uow.emit(event)
            return saved

        if not await call_until_available(f"recording delivery {delivery.delivery_id}", record):
            return False
        if isinstance(event, ev.NotificationFailed):
            log.error("delivery %s to %s failed: %s", delivery.delivery_id, delivery.recipient_id, event.error)
        elif delivery.status == PENDING:
            log.warning("delivery %s to %s delivered nothing, trying again at %s: %s", delivery.delivery_id,
                        delivery.recipient_id, delivery.not_before.isoformat(), delivery.last_error)
        return True

    def _retry_at(self, attempts: int) -> datetime:
        backoff = Backoff(self.settings.delivery_retry_seconds, self.settings.delivery_retry_max_seconds)
        backoff.failures = attempts - 1  # so the next delay is this delivery's `attempts`-th
        return self.clock.now() + self._program_time(backoff.next_delay())

    def _program_time(self, real_seconds: float) -> timedelta:
        return timedelta(seconds=real_seconds * self.clock.speed)


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


async def deliver_notifications(service: Service) -> None:
    deps: NotificationsDeps = service.deps
    settings = deps.settings
    email = EmailSender(host=settings.smtp_host, port=settings.smtp_port, sender=settings.mail_from,
                        username=settings.smtp_username,
                        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
                        starttls=settings.smtp_starttls, timeout=settings.smtp_timeout_seconds)
    client = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False)
    chat = {"secrets": EndpointSecrets(settings.webhook_secret.get_secret_value()),
            "allow": AllowList.parse(settings.webhook_allow_hosts), "client": client}
    senders = {"email": email, **{channel: WebhookSender(channel, **chat) for channel in (WEBHOOK, SLACK, TEAMS)}}
    dispatcher = Dispatcher(service.transaction, service.clock, settings, senders)
    try:
        await run_loop("notifications delivery", dispatcher.step, poll=settings.delivery_poll_seconds,
                       wake=deps.wake)
    finally:
        await client.aclose()


# The digest loop: digests.py; the questions after a meeting: attendance.py.
LOOPS = [deliver_notifications, send_digests, ask_about_attendance]
