from pydantic import Field

from shared.settings import ServiceSettings


class FeedbackSettings(ServiceSettings):
    http_port: int = 8084
    # How long people have to answer a feedback request, in program days.
    feedback_due_days: float = Field(7.0, gt=0)
