"""`tandem up`: PostgreSQL, Apache Kafka, a mail server and the four services, until Ctrl-C.

With `--replicas N` every service runs as N processes in the same consumer groups (Kafka shares
the partitions among them), each with its own HTTP port; a process that dies is started again.
"""

from __future__ import annotations

import os
import secrets
import signal
import time

from tandem.cli import CliError


def register(sub) -> None:
    p = sub.add_parser("up", help="start the whole system locally (Ctrl-C stops it)")
    p.add_argument("--no-services", action="store_true", help="start only the infrastructure")
    p.add_argument("--replicas", type=int, default=1, help="processes per service, in one consumer group (default 1)")
    p.set_defaults(func=run)


def run(args) -> int:
    from tandem.local.passwords import kept_secret
    from tandem.local.ports import describe, is_free, listener
    from tandem.local.stack import Infrastructure, Ports, Services, tandem_home

    if not 1 <= args.replicas <= 8:
        raise CliError(f"--replicas must be between 1 and 8, got {args.replicas}")
    infra = Infrastructure(tandem_home(), Ports())
    services = None
    stopping = False

    def on_term(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    try:
        try:
            infra.start()
        except (RuntimeError, OSError) as exc:
            raise CliError(f"could not start the infrastructure: {exc}") from exc
        infra.create_topics()
        print(f"DATABASE_URL={infra.database_url}")
        print(f"KAFKA_BOOTSTRAP_SERVERS={infra.bootstrap_servers}")
        print(f"mail: smtp://127.0.0.1:{infra.ports.smtp} -> {infra.mail_dir}")
        # The program team signs in with single sign-on when TANDEM_OIDC_ISSUER (and its client) are set;
        # always with the break-glass token, a random one unless the operator gave one.
        token = os.environ.get("TANDEM_OPS_TOKEN") or secrets.token_urlsafe(32)
        # Signs the dashboard's sessions; kept in the home, so a restart does not sign everybody out.
        session_key = os.environ.get("TANDEM_OPS_SESSION_KEY") or kept_secret(infra.home / "session-key")
        sso = bool(os.environ.get("TANDEM_OIDC_ISSUER"))
        # Chat webhooks are signed with secrets derived from this one (`tandem webhook secret URL`).
        webhook_secret = os.environ.get("TANDEM_WEBHOOK_SECRET") or secrets.token_urlsafe(32)
        # Participants' action links are signed with this key; kept in the home, so links in mail sent
        # before a restart still open after it.
        link_keys = os.environ.get("TANDEM_LINK_KEYS") or kept_secret(infra.home / "link-key")
        if not args.no_services:
            services = Services.create(infra, replicas=args.replicas,
                                       extra={"TANDEM_OPS_TOKEN": token, "TANDEM_OPS_SESSION_KEY": session_key,
                                              "TANDEM_WEBHOOK_SECRET": webhook_secret,
                                              "TANDEM_LINK_KEYS": link_keys})
            for proc in services.processes.values():
                if not is_free(proc.port):
                    raise CliError(f"port {proc.port} is needed for {proc.name} but is already in use by "
                                   f"{describe(listener(proc.port))}; stop that process first")
            services.start()
            services.wait_ready()
            for proc in services.processes.values():
                print(proc.describe(), flush=True)
            print(f"logs: {infra.home / 'logs'}")
            dashboard = services.replica("feedback").port
            how = (f"sign in with {os.environ['TANDEM_OIDC_ISSUER']}, or the token below" if sso
                   else "sign in with the token below")
            print(f"dashboard: http://127.0.0.1:{dashboard}/dashboard  ({how})")
            print(f"TANDEM_OPS_TOKEN={token}")
            print(f"TANDEM_WEBHOOK_SECRET={webhook_secret}")
            print(f"participants' pages: http://127.0.0.1:{services.replica('notifications').port}/a/... "
                  "(the links in their mails)")
        print("Tandem is up. Ctrl-C stops it.", flush=True)
        while not stopping:
            if services is not None:
                for proc in services.processes.values():
                    if not proc.alive():
                        print(f"{proc.name} exited ({proc.process.returncode}); restarting it", flush=True)
                        proc.start()
                        print(proc.describe(), flush=True)
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping...")
        if services is not None:
            services.stop()
        infra.stop()
    return 0

