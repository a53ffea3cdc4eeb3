"""How a relationship ends well: what it achieved, and whether it earns a certificate.

`term_served` is the share of the planned term (`term_days` in force at the end) from establishment
to the end, capped at 1.0 (a term end found a moment late is still the whole term). A certificate
is earned by completing the term, or by an early end with the term mostly served (>= 0.75):
someone who leaves after nine months of a twelve-month term did the work.
"""

from __future__ import annotations

from datetime import datetime, timedelta

MOSTLY_SERVED = 0.75


def term_served(established_at: datetime, ended_at: datetime, term_days: int) -> float:
    share = (ended_at - established_at) / timedelta(days=term_days)
    return round(max(0.0, min(1.0, share)), 3)


def earns_certificate(reason_code: str, served: float) -> bool:
    return reason_code == "term_completed" or served >= MOSTLY_SERVED
