"""What notifications' handlers and loops need besides the unit of work."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.notifications.settings import NotificationSettings
from shared.loops import Wakeup


@dataclass(frozen=True)
class NotificationsDeps:
    settings: NotificationSettings
    wake: Wakeup  # the delivery loop's: set once new deliveries are committed, so they go out at once
    # The digest loop's: set when a program's settings change (a new program, another time zone).
    wake_digests: Wakeup = field(default_factory=Wakeup)
