"""What notifications' handlers and loops need besides the unit of work."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from services.notifications.adapters.mail_format import MailWriter
from services.notifications.admins import AdminSettings
from services.notifications.domain.links import LinkMaker, LinkSigner
from services.notifications.settings import NotificationSettings
from shared.loops import Wakeup
from shared.programs import OpsContact


@dataclass
class NotificationsDeps:
    settings: NotificationSettings
    wake: Wakeup  # the delivery loop's: set once new deliveries are committed, so they go out at once
    # The digest loop's: set when a program's settings change (a new program, another time zone).
    wake_digests: Wakeup = field(default_factory=Wakeup)
    # The deployment's administrators (TANDEM_ADMIN_CONTACTS): dead letters naming no program go to them.
    admins: tuple[OpsContact, ...] = field(default_factory=lambda: AdminSettings().contacts)

    @cached_property
    def signer(self) -> LinkSigner:
        return LinkSigner.from_setting(self.settings.link_keys.get_secret_value())

    @cached_property
    def links(self) -> LinkMaker:
        """Signs the action links in participants' messages (and reads them back on the pages)."""
        return LinkMaker(self.signer, self.settings.public_url)

    @cached_property
    def mail(self) -> MailWriter:
        """Writes each mail's bytes once, when its delivery is planned (service_layer/enqueue.py)."""
        return MailWriter(self.settings.mail_from)
