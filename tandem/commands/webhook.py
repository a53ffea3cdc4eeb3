"""`tandem webhook secret URL`: the signing secret of one chat webhook endpoint.

Every webhook Tandem sends is signed per the Standard Webhooks specification with its endpoint's own
secret, derived from the deployment's `TANDEM_WEBHOOK_SECRET` (docs/webhooks.md). Whoever sets up the
receiver needs that secret to verify the `webhook-signature` header: this prints it, `whsec_...`.
"""

from __future__ import annotations

import os

from tandem.cli import CliError


def register(sub) -> None:
    p = sub.add_parser("webhook", help="chat webhooks: the signing secret of an endpoint")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    secret = actions.add_parser("secret", help="print the signing secret (whsec_...) of a webhook URL")
    secret.add_argument("url", help="the endpoint's URL, exactly as in the profile or program settings")
    secret.set_defaults(func=run_secret)


def run_secret(args) -> int:
    from services.notifications.adapters.senders import EndpointSecrets
    from shared.contracts.types import WebhookUrl
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(WebhookUrl).validate_python(args.url)
    except ValidationError as exc:
        raise CliError(f"{args.url!r}: {exc.errors()[0]['msg']}") from exc
    deployment_secret = os.environ.get("TANDEM_WEBHOOK_SECRET")
    if not deployment_secret:
        raise CliError("TANDEM_WEBHOOK_SECRET is not set: it must be the notifications service's own")
    print(EndpointSecrets(deployment_secret).secret_for(args.url))
    return 0
