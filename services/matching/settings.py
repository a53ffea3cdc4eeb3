from pydantic import Field

from shared.settings import ServiceSettings


class MatchingSettings(ServiceSettings):
    http_port: int = 8081
    # Program settings.
    min_overlap_hours: float = Field(2.0, ge=0)
    # How long a mentor has to answer a proposal, in program hours.
    response_window_hours: float = Field(72.0, gt=0)
    # Concurrent relationships a mentee may have (1: matched once, until the relationship ends).
    max_matches_per_mentee: int = Field(1, ge=1)
    expiry_check_seconds: float = 0.5
