"""What feedback's handlers and loops need besides the unit of work."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.feedback.settings import FeedbackSettings
from shared.loops import Wakeup


@dataclass(frozen=True)
class FeedbackDeps:
    settings: FeedbackSettings
    # Set after a commit that plans a check-in, so the loop learns of a sooner one at once.
    wake_checkins: Wakeup = field(default_factory=Wakeup)
