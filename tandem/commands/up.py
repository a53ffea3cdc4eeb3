"""`tandem up`: PostgreSQL, Apache Kafka, a mail server and the four services, until Ctrl-C.

With `--replicas N` every service runs as N processes in the same consumer groups (Kafka shares
the partitions among them), each with its own HTTP port; a process that dies is started again.

With `--sso` a local OpenID Provider (tandem/local/sso.py) signs the program team in: an admin of
every program and, per `--sso-program`, an admin and a viewer of it, with random passwords kept in
`.tandem/sso-people.json`.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import time

from tandem.cli import CliError


def register(sub) -> None:
    p = sub.add_parser("up", help="start the whole system locally (Ctrl-C stops it)")
    p.add_argument("--no-services", action="store_true", help="start only the infrastructure")
    p.add_argument("--replicas", type=int, default=1, help="processes per service, in one consumer group (default 1)")
    p.add_argument("--sso", action="store_true",
                   help="also start a local OpenID Provider with a few people to sign in to the dashboard as")
    p.add_argument("--sso-program", action="append", metavar="PROGRAM_ID",
                   help=f"a program whose admin and viewer --sso makes (repeatable; default {DEFAULT_SSO_PROGRAM})")
    p.set_defaults(func=run)


DEFAULT_SSO_PROGRAM = "global-2027"  # the demo's program
PROGRAM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def sso_programs(args) -> list[str]:
    """The programs `--sso` makes people for; checked before anything starts."""
    if args.sso_program and not args.sso:
        raise CliError("--sso-program needs --sso")
    if args.sso and args.no_services:
        raise CliError("--sso signs people in to the services: it cannot go with --no-services")
    programs = list(dict.fromkeys(args.sso_program or [DEFAULT_SSO_PROGRAM]))
    for program in programs:
        if not PROGRAM_ID.fullmatch(program):
            raise CliError(f"--sso-program {program!r}: a program id is letters, digits, '.', '_' or '-' "
                           "(at most 64, starting with a letter or digit)")
    return programs


def run(args) -> int:
    from tandem.local.passwords import kept_secret
    from tandem.local.ports import describe, is_free, listener
    from tandem.local.stack import Infrastructure, Ports, Services, fixed_http_ports, tandem_home

    if not 1 <= args.replicas <= 8:
        raise CliError(f"--replicas must be between 1 and 8, got {args.replicas}")
    programs = sso_programs(args)
    if args.sso:
        from tandem.local.oidc import missing_prerequisite

        if (missing := missing_prerequisite()) is not None:
            raise CliError(f"--sso: {missing}")
    infra = Infrastructure(tandem_home(), Ports())
    services = None
    sign_on = None
    stopping = False

    def on_term(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    # Ctrl-C (SIGINT) stops the stack even where it was started ignoring SIGINT, as a shell's
    # background job is: Python then installs no KeyboardInterrupt of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
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
        if args.sso:
            from tandem.local.sso import start_local_sign_on

            feedback_ports = [port for name, port in fixed_http_ports(infra.ports.http, args.replicas).items()
                              if name.startswith("feedback#")]
            try:
                sign_on = start_local_sign_on(infra.home, feedback_ports, programs)
            except (RuntimeError, OSError) as exc:
                raise CliError(f"could not start the local OpenID Provider: {exc}") from exc
        # Chat webhooks are signed with secrets derived from this one (`tandem webhook secret URL`).
        webhook_secret = os.environ.get("TANDEM_WEBHOOK_SECRET") or secrets.token_urlsafe(32)
        # Participants' action links are signed with this key; kept in the home, so links in mail sent
        # before a restart still open after it.
        link_keys = os.environ.get("TANDEM_LINK_KEYS") or kept_secret(infra.home / "link-key")
        if not args.no_services:
            services = Services.create(infra, replicas=args.replicas,
                                       extra={"TANDEM_OPS_TOKEN": token, "TANDEM_OPS_SESSION_KEY": session_key,
                                              "TANDEM_WEBHOOK_SECRET": webhook_secret,
                                              "TANDEM_LINK_KEYS": link_keys,
                                              **(sign_on.env() if sign_on else {})})
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
            issuer = sign_on.issuer if sign_on else os.environ.get("TANDEM_OIDC_ISSUER")
            how = (f"sign in with {issuer}, or the token below" if sso or sign_on
                   else "sign in with the token below")
            print(f"dashboard: http://127.0.0.1:{dashboard}/dashboard  ({how})")
            if sign_on:
                for line in sign_on.describe():
                    print(line)
            print(f"TANDEM_OPS_TOKEN={token}")
            print(f"TANDEM_WEBHOOK_SECRET={webhook_secret}")
            print(f"participants' pages: http://127.0.0.1:{services.replica('notifications').port}/a/... "
                  "(the links in their mails)")
        print("Tandem is up. Ctrl-C stops it.", flush=True)
        while not stopping:
            if sign_on is not None and not sign_on.alive():
                print("the local OpenID Provider exited; restarting it", flush=True)
                try:
                    sign_on.restart()
                except (RuntimeError, OSError) as exc:
                    raise CliError(f"could not restart the local OpenID Provider: {exc}") from exc
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
        if sign_on is not None:
            sign_on.stop()
        infra.stop()
    return 0

