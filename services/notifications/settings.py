from pydantic import Field

from shared.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    http_port: int = 8083
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 15.0
    mail_from: str = "Tandem <noreply@tandem.example>"
    # Delivery attempts that fail with a temporary error before the notification is given up.
    delivery_max_attempts: int = Field(8, ge=1)
    delivery_batch: int = 50
    # A send claimed longer ago than this (real seconds) was interrupted by a crash.
    sending_lease_seconds: float = 120.0
    # Shown in the introduction; the program's cadence lives in scheduling.
    cadence_days: int = 14
    meeting_minutes: int = 45
