"""`tandem up`: PostgreSQL, Apache Kafka, a mail server and the four services, until Ctrl-C."""

from __future__ import annotations

import signal
import time

from tandem.cli import CliError


def register(sub) -> None:
    p = sub.add_parser("up", help="start the whole system locally (Ctrl-C stops it)")
    p.add_argument("--no-services", action="store_true", help="start only the infrastructure")
    p.set_defaults(func=run)


def run(args) -> int:
    from tandem.local.stack import Infrastructure, Ports, Services, tandem_home

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
        if not args.no_services:
            services = Services.create(infra)
            services.start()
            services.wait_ready()
            for name, proc in services.processes.items():
                print(f"{name:<14} http://127.0.0.1:{proc.port}/readyz  /metrics  (log {proc.log_file})")
        print("Tandem is up. Ctrl-C stops it.")
        while not stopping:
            if services is not None:
                for name, proc in services.processes.items():
                    if not proc.alive():
                        print(f"{name} exited ({proc.process.returncode}); restarting it")
                        proc.start()
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping...")
        if services is not None:
            services.stop()
        infra.stop()
    return 0
