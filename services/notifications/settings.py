from typing import Annotated

from pydantic import Field, SecretStr

from shared.settings import ISSUED, KEY_LIST, ServiceSettings


class NotificationSettings(ServiceSettings):
    http_port: int = 8083
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_username: str | None = None
    smtp_password: Annotated[SecretStr | None, ISSUED] = None  # the mail provider's: any length
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 15.0
    mail_from: str = "Tandem <noreply@tandem.example>"
    # Delivery attempts that fail with a temporary error before the notification is given up.
    delivery_max_attempts: int = Field(8, ge=1)
    # Between attempts: a random wait up to min(max, first * 2**(attempt - 1)) real seconds (full jitter).
    delivery_retry_seconds: float = Field(2.0, gt=0)
    delivery_retry_max_seconds: float = Field(300.0, gt=0)
    # At most this many outcomes are recorded in one transaction, and interrupted sends settled a pass.
    delivery_batch: int = Field(50, ge=1)
    # The delivery loop looks for due work at least this often (real seconds); new work wakes it at once.
    delivery_poll_seconds: float = Field(1.0, gt=0)
    # A send claimed longer ago than this (real seconds) was interrupted by a crash. Must be longer
    # than any send can take (see smtp_timeout_seconds).
    sending_lease_seconds: float = Field(120.0, ge=0)
    # Where the program team's dashboard is: alerts and digests link to it.
    dashboard_url: str = "http://127.0.0.1:8084/dashboard"
    # Where participants' action links point: this service's pages as the public reaches them
    # (`{public_url}/a/<token>`). Behind a proxy, its public https address.
    public_url: str = "http://127.0.0.1:8083"
    # Keys that sign action links (domain/links.py), comma-separated, the newest (which signs) last;
    # every listed key is accepted, so a key is retired by adding a new one and removing it later.
    # Production refuses these development defaults, as every secret (shared/settings.py).
    link_keys: Annotated[SecretStr, KEY_LIST] = SecretStr("local-development-only")
    # The digest loop looks at least this often (real seconds) whether a program's 08:00 has come;
    # it also wakes when the next one is due.
    digest_poll_seconds: float = Field(60.0, gt=0)
    # Chat webhooks (adapters/senders.py): every endpoint's signing secret is derived from this one.
    webhook_secret: SecretStr = SecretStr("local-development-only")
    # Targets permitted although private, loopback or plain http (adapters/webhook_targets.py):
    # comma-separated host names, addresses or networks. Empty: only public https endpoints.
    webhook_allow_hosts: str = ""
    # One webhook attempt, all of it (resolving, connecting, sending, the whole answer), in seconds.
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    # At most this much of a webhook's answer is read; a longer answer fails the delivery.
    webhook_max_answer_bytes: int = Field(64 * 1024, ge=0)
    # Sends in flight at once in one process, of which at most `smtp_concurrency` to the mail server
    # and `webhook_per_endpoint` to one webhook endpoint (its URL's host and port), so a slow
    # endpoint delays only its own messages (service_layer/loops.py).
    delivery_concurrency: int = Field(32, ge=1)
    # Also the connections kept open to the mail server: 16 lets a pass claim about 8 mails in one
    # transaction; relays take that many sessions from one client (Postfix's default limit is 50).
    smtp_concurrency: int = Field(16, ge=1)
    webhook_per_endpoint: int = Field(4, ge=1)
