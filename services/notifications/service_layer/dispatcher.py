"""Sends what the delivery log says is due, at most once per delivery.

A delivery is marked `sending` and committed just before its own send (one at a time, so a crash
leaves at most the message in flight undecided). If the process dies mid-send, the
row stays `sending`; after a lease it is recorded as failed (and reported), never sent again,
because we cannot know whether the mail server already took it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from services.notifications.adapters import repository as repo
from services.notifications.adapters.senders import EmailSender, GiveUp, Message, TryAgain, WebhookSender
from services.notifications.settings import NotificationSettings
from shared.contracts import events as ev
from shared.service import Service

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, service: Service, settings: NotificationSettings, wake: asyncio.Event) -> None:
        self.service = service
        self.settings = settings
        self.wake = wake
        self.email = EmailSender(
            host=settings.smtp_host, port=settings.smtp_port, sender=settings.mail_from,
            username=settings.smtp_username, password=settings.smtp_password, starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
        self.webhook = WebhookSender()

    async def run(self) -> None:
        next_recovery = 0.0
        loop = asyncio.get_running_loop()
        while True:
            if loop.time() >= next_recovery:
                await self.recover_interrupted()
                next_recovery = loop.time() + 30
            sent = await self.dispatch_due()
            if sent >= self.settings.delivery_batch:
                continue
            self.wake.clear()
            timeout = 1.0
            async with self.service.pool.acquire() as conn:
                due = await repo.next_due(conn)
            if due is not None:
                timeout = min(timeout, self.service.clock.real_seconds_until(due))
            try:
                await asyncio.wait_for(self.wake.wait(), max(timeout, 0.01))
            except TimeoutError:
                pass

    async def dispatch_due(self) -> int:
        async with self.service.pool.acquire() as conn:
            ids = await repo.due(conn, self.service.clock.now(), self.settings.delivery_batch)
        for delivery_id in ids:
            async with self.service.pool.acquire() as conn:
                row = await repo.claim(conn, delivery_id)  # autocommit: claimed before the send
            if row is not None:  # another replica may have taken it
                await self.deliver(row)
        return len(ids)

    async def deliver(self, row) -> None:
        message = Message(row["delivery_id"], row["address"], row["subject"], row["body"], row["language"],
                          row["attachment"])
        sender = self.webhook if row["channel"] == "webhook" else self.email
        try:
            await sender.send(message)
        except TryAgain as exc:
            if row["attempts"] >= self.settings.delivery_max_attempts:
                await self._record(row, failed=f"gave up after {row['attempts']} attempts: {exc}")
            else:
                delay = min(2 ** row["attempts"], 300)  # real seconds
                retry_at = self.service.clock.now() + timedelta(seconds=delay * self.service.clock.speed)
                await self._with_db(lambda conn: repo.mark_retry(conn, row["delivery_id"], str(exc), retry_at))
                log.warning("delivery %s failed, retrying in %ss: %s", row["delivery_id"], delay, exc)
            return
        except GiveUp as exc:
            await self._record(row, failed=str(exc))
            return
        await self._record(row, failed=None)

    async def _record(self, row, *, failed: str | None) -> None:
        """Write the outcome and its event together; keeps trying, since the send already happened."""
        delay = 0.2
        while True:
            try:
                async with self.service.transaction() as uow:
                    if failed is None:
                        if not await repo.mark_delivered(uow.conn, row["delivery_id"], uow.clock.now()):
                            return
                        uow.emit(ev.NotificationDelivered(
                            notification_id=row["delivery_id"], recipient_id=row["recipient_id"],
                            channel=row["channel"], template=row["template"], language=row["language"],
                            cause_event_id=row["cause_event_id"], delivered_at=uow.clock.now(),
                        ))
                    else:
                        if not await repo.mark_failed(uow.conn, row["delivery_id"], failed):
                            return
                        uow.emit(ev.NotificationFailed(
                            notification_id=row["delivery_id"], recipient_id=row["recipient_id"],
                            channel=row["channel"], template=row["template"], cause_event_id=row["cause_event_id"],
                            error=failed, attempts=row["attempts"],
                        ))
                        log.error("delivery %s failed: %s", row["delivery_id"], failed)
                return
            except Exception as exc:
                log.warning("could not record delivery %s yet: %r", row["delivery_id"], exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)

    async def _with_db(self, action) -> None:
        async with self.service.pool.acquire() as conn:
            await action(conn)

    async def recover_interrupted(self) -> None:
        async with self.service.pool.acquire() as conn:
            rows = await repo.interrupted(conn, self.settings.sending_lease_seconds)
        for row in rows:
            await self._record(row, failed="interrupted while sending; not resent, to avoid sending it twice")
