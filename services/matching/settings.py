from pydantic import Field

from shared.settings import ServiceSettings


class MatchingSettings(ServiceSettings):
    """The overlap rule, response window and score weights are per program (shared/programs.py);
    the deployment's defaults for them live in ServiceSettings."""

    http_port: int = 8081
    # Concurrent relationships a mentee may have (1: matched once, until the relationship ends).
    max_matches_per_mentee: int = Field(1, ge=1)
    expiry_check_seconds: float = 0.5
    # How often the term loop looks for relationships whose term ends (real seconds); it also wakes
    # when the next end it knows of is due.
    term_check_seconds: float = Field(5.0, gt=0)
