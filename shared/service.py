"""The runtime every service shares: database, migrations, Kafka, outbox relay, background loops,
and an HTTP side door with /healthz and /readyz; /metrics on a port of its own (TANDEM_METRICS_PORT),
or in development without one on the http port.

A service is declared once, in its `entrypoints/app.py`:

    Service(name="scheduling", schema="scheduling", settings=settings, migrations=MIGRATIONS,
            subscriptions=SUBSCRIPTIONS,            # event class -> handler (service_layer/handlers.py)
            deps=SchedulingDeps(...),               # what handlers need besides the unit of work
            unit_of_work=SchedulingUnitOfWork,      # its repositories
            replicas=(PARTICIPANTS_TRACK, PAIRS_TRACK),
            loops=LOOPS)                            # background loops (service_layer/loops.py)

`build_app()` gives an ASGI app (FastStream's `AsgiFastStream`) that uvicorn serves, so
SIGTERM/Ctrl-C stop it cleanly. Any number of replicas may run: every loop and handler is written
to be correct when another process does the same work at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY, make_asgi_app

from shared import kafka_resilience
from shared.clock import ProgramClock
from shared.consumer import Consumer, Limits, Runtime, Subscriptions
from shared.db import Track, create_pool, migrate
from shared.kafka import make_producer
from shared.outbox import OutboxRelay
from shared.retry import call_until_available
from shared.settings import ServiceSettings
from shared.telemetry import recording, setup_logging, setup_tracing
from shared.unit_of_work import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

D = TypeVar("D")
U = TypeVar("U", bound=UnitOfWork)
Hook = Callable[["Service"], Awaitable[Any]]
START_UP_PATIENCE = 120.0  # seconds to wait for the database and broker at start-up


class Service(Generic[D, U]):
    def __init__(
        self,
        *,
        name: str,
        schema: str,
        settings: ServiceSettings,
        migrations: Path,
        subscriptions: Subscriptions,
        deps: D = None,  # type: ignore[assignment]  # a service without deps passes none
        unit_of_work: type[U] = UnitOfWork,  # type: ignore[assignment]  # the plain one, when not given
        replicas: Sequence[Track] = (),
        on_start: Sequence[Hook] = (),
        loops: Sequence[Hook] = (),
        web: Callable[[Service], Any] | None = None,
        web_prefixes: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.schema = schema
        self.settings = settings
        self.migrations = migrations
        self.replicas = tuple(replicas)
        self.subscriptions = subscriptions
        self.deps = deps
        self.unit_of_work = unit_of_work
        self.on_start = list(on_start)
        self.loops = list(loops)
        # A service's own web app (an ASGI app built from the service), served under these path prefixes.
        self.web = web
        self.web_prefixes = tuple(web_prefixes)
        self.clock = ProgramClock.from_settings(settings)
        self.tracer_provider = setup_tracing(name, settings.otel_exporter_otlp_endpoint)
        # FastStream's spans (one per polled batch) only when spans are recorded: the consumer itself
        # continues each event's trace context, exporter or not (shared.telemetry).
        tracing = (KafkaTelemetryMiddleware(tracer_provider=self.tracer_provider),) if recording() else ()
        self.broker = KafkaBroker(
            settings.kafka_bootstrap_servers.split(","),  # FastStream takes a list; a cluster has several
            client_id=f"tandem-{name}",
            middlewares=(
                *tracing,
                KafkaPrometheusMiddleware(registry=REGISTRY, app_name=f"tandem-{name}"),
            ),
            graceful_timeout=15.0,
            logger=logging.getLogger(f"tandem.{name}.broker"),  # our JSON log lines, not FastStream's own format
            # Its "Received" and "Processed" line per batch say nothing the metrics do not: debug only.
            # (Its errors are logged at ERROR whatever this says.)
            log_level=logging.DEBUG,
        )
        self.producer: AIOKafkaProducer | None = None  # created inside the event loop (aiokafka needs a running loop)
        self.pool: asyncpg.Pool | None = None
        self._tasks: list[asyncio.Task] = []
        self._relay: OutboxRelay | None = None
        self._own_process = False  # run() as `python -m services.<name>`, not in-process (tests, tools)
        self.consumer = Consumer(name, subscriptions)
        self.runtime = Runtime(
            name=name,
            topic_prefix=settings.topic_prefix,
            producer=None,
            transaction=self.transaction,
            deps=deps,
            limits=Limits(
                max_attempts=settings.max_attempts,
                max_deferrals=settings.max_deferrals,
                backoff=settings.retry_backoff_seconds,
                backoff_max=settings.retry_backoff_max_seconds,
                batch_size=settings.consumer_batch_size,
                commit_interval=settings.consumer_commit_interval_seconds,
            ),
        )
        self.consumer.attach(self.broker, self.runtime)

    def transaction(self) -> contextlib.AbstractAsyncContextManager[U]:
        assert self.pool is not None, "service not started"
        relay = self._relay  # in this process: woken directly after a commit that wrote events
        return unit_of_work(
            self.pool,
            source=f"/tandem/{self.name}",
            clock=self.clock,
            schema=self.schema,
            cls=self.unit_of_work,
            wake_relay=relay.wake.set if relay is not None else None,
        )

    # --- life cycle ------------------------------------------------------------------------------

    async def _start_storage(self) -> None:
        settings = self.settings
        kafka_resilience.keep_alive()  # before any Kafka client starts its metadata task
        self.pool = await call_until_available(
            "database",
            lambda: create_pool(settings.database_url.get_secret_value(), self.schema, size=settings.db_pool_size),
            maximum=2.0,
            give_up_after=START_UP_PATIENCE,
        )
        await migrate(self.pool, self.schema, self.migrations, self.replicas)
        producer = self.producer = make_producer(settings.kafka_bootstrap_servers, f"tandem-{self.name}")
        self.runtime.producer = producer
        await call_until_available("Kafka", producer.start, maximum=2.0, give_up_after=START_UP_PATIENCE)
        for hook in self.on_start:
            await hook(self)

    async def _start_loops(self) -> None:
        assert self.pool is not None

        async def relay_producer():
            # No linger: the relay sends a wave of events at once and waits for it before the next wave
            # of the same keys, so a linger would only add its 5 ms to every wave.
            producer = make_producer(self.settings.kafka_bootstrap_servers, f"tandem-{self.name}-outbox", linger_ms=0)
            await call_until_available("Kafka", producer.start, maximum=2.0)
            return producer

        relay = OutboxRelay(
            self.pool,
            await relay_producer(),
            database_url=self.settings.database_url.get_secret_value(),
            service=self.name,
            schema=self.schema,
            topic_prefix=self.settings.topic_prefix,
            batch_size=self.settings.outbox_batch_size,
            poll_seconds=self.settings.outbox_poll_seconds,
            new_producer=relay_producer,
        )
        self._relay = relay
        self._tasks.append(
            asyncio.create_task(_supervised(_named(relay.run, "outbox_relay"), self), name=f"{self.name}-outbox")
        )
        for loop in self.loops:
            self._tasks.append(asyncio.create_task(_supervised(loop, self), name=f"{self.name}-{loop.__name__}"))
        with contextlib.suppress(NotImplementedError, RuntimeError):  # for operators: `kill -USR1 <pid>`
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _log_tasks)
        if self._own_process:
            _collect_garbage_less_often()
        log.info("%s started", self.name)

    async def _stop(self) -> None:
        await self.consumer.close()  # parked records were not committed: they come again
        relay, self._relay = self._relay, None  # from now on a commit NOTIFYs the other replicas' relays
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if relay is not None:
            with contextlib.suppress(Exception):
                await relay.producer.stop()
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await self.producer.stop()
        if self.pool is not None:
            await self.pool.close()
        log.info("%s stopped", self.name)

    @contextlib.asynccontextmanager
    async def running(self):
        """Run in-process without the HTTP side (tests, tools): storage, subscribers, loops."""
        await self._start_storage()
        await self.broker.start()
        await self._start_loops()
        try:
            yield self
        finally:
            await self._commit_settled()
            await self.broker.stop()
            await self._stop()

    async def _commit_settled(self) -> None:
        with contextlib.suppress(Exception):  # best effort: what is not committed comes again, and is skipped
            await self.consumer.commit_settled(self.runtime.limits)

    # --- HTTP ------------------------------------------------------------------------------------

    async def readiness(self) -> dict[str, bool]:
        checks = {"database": False, "broker": False}
        if self.pool is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    checks["database"] = await self.pool.fetchval("SELECT 1") == 1
        with contextlib.suppress(Exception):
            checks["broker"] = bool(await self.broker.ping(timeout=2))
        return checks

    def routes(self) -> list[tuple[str, Any]]:
        """The HTTP side door; a service may add its own routes (`extra_routes`)."""

        @get
        async def healthz(scope) -> AsgiResponse:
            return AsgiResponse(b'{"status":"ok"}', 200, {"content-type": "application/json"})

        @get
        async def readyz(scope) -> AsgiResponse:
            checks = await self.readiness()
            ok = all(checks.values())
            body = json.dumps({"status": "ready" if ok else "not ready", **checks}).encode()
            return AsgiResponse(body, 200 if ok else 503, {"content-type": "application/json"})

        routes: list[tuple[str, Any]] = [("/healthz", healthz), ("/readyz", readyz)]
        if self.settings.metrics_on_http_port:  # development without a metrics port; see serve_metrics
            routes.append(("/metrics", make_asgi_app(REGISTRY)))
        return routes

    def build_app(self) -> Any:
        app = AsgiFastStream(
            self.broker,
            asgi_routes=self.routes(),
            on_startup=[self._start_storage],
            after_startup=[self._start_loops],
            on_shutdown=[self._commit_settled],  # while the consumers still hold their partitions
            after_shutdown=[self._stop],  # after the broker has drained in-flight handlers
            logger=logging.getLogger(f"tandem.{self.name}.app"),
        )
        if self.web is None:
            return app
        return _ByPrefix(app, self.web(self), self.web_prefixes)

    def run(self) -> None:
        import uvicorn

        setup_logging(self.name, self.settings.log_level)
        self.settings.refuse_insecure()  # production: no empty, default or short secret (docs/security.md)
        serve_metrics(self.settings)
        self._own_process = True  # the process is the service's alone: its garbage collection is tuned
        uvicorn.run(self.build_app(), **http_server_options(self.settings))


def http_server_options(settings: ServiceSettings) -> dict[str, Any]:
    """How uvicorn serves a service. X-Forwarded-Proto and -For are believed only from the trusted
    proxies (TANDEM_TRUSTED_PROXIES), so behind a TLS proxy a request's scheme is https (and cookies
    are Secure) while anyone else's forwarded headers are ignored. The event loop is uvloop's (a
    pinned dependency): the same asyncio API, with less CPU spent per socket read and callback."""
    proxies = settings.trusted_proxies.strip()
    return {
        "host": settings.http_host,
        "port": settings.http_port,
        "log_config": None,
        "lifespan": "on",
        "loop": "uvloop",
        "timeout_graceful_shutdown": 20,
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
    }


def serve_metrics(settings: ServiceSettings) -> None:
    """Prometheus' /metrics on its own port (TANDEM_METRICS_PORT, on the http host), which a
    deployment exposes to its Prometheus only; served from a thread by prometheus_client."""
    if settings.metrics_port is not None:
        from prometheus_client import start_http_server

        try:
            start_http_server(settings.metrics_port, addr=settings.http_host, registry=REGISTRY)
        except OSError as exc:
            raise SystemExit(
                f"cannot serve /metrics on {settings.http_host}:{settings.metrics_port} "
                f"(TANDEM_METRICS_PORT): {exc.strerror or exc}"
            ) from None
        log.info("metrics on port %s", settings.metrics_port)
    elif not settings.metrics_on_http_port:
        log.warning("no TANDEM_METRICS_PORT: /metrics is not served (production keeps it off the http port)")


class _ByPrefix:
    """The side door's exact routes and the life cycle stay with FastStream's app; requests under
    the service's web prefixes go to its own web app."""

    def __init__(self, app: Any, web: Any, prefixes: tuple[str, ...]) -> None:
        self.app, self.web, self.prefixes = app, web, prefixes

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and any(path == p or path.startswith(p + "/") for p in self.prefixes):
            await self.web(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _log_tasks() -> None:
    """Log where every task of this process is waiting (what a stuck service is stuck on): the whole
    chain of awaits, which a suspended task's own stack (`Task.print_stack`) stops short of."""
    for task in asyncio.all_tasks():
        log.warning("task %s: %s", task.get_name(), " <- ".join(reversed(_awaiting(task.get_coro()))) or repr(task))


def _awaiting(coro: Any, depth: int = 40) -> list[str]:
    """file:line function, outermost first, down the chain of coroutines and generators awaited."""
    chain: list[str] = []
    while coro is not None and depth:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) or getattr(coro, "ag_frame", None)
        if frame is None:
            chain.append(repr(coro)[:120])
            break
        chain.append(
            f"{frame.f_code.co_filename.rsplit('site-packages/', 1)[-1]}:{frame.f_lineno} {frame.f_code.co_name}"
        )
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None) or getattr(coro, "ag_await", None)
        depth -= 1
    return chain


def _named(run: Callable[[], Awaitable[Any]], name: str) -> Hook:
    async def loop(service: Service) -> None:
        await run()

    loop.__name__ = name
    return loop


def _collect_garbage_less_often() -> None:
    """What is loaded at start (modules, catalogues, locale data) is kept for good: left out of every
    garbage collection from now on. And a collection after every 20,000 allocations, not 700: handling
    events allocates a lot and makes few cycles. Collections took about 5 % of matching's CPU, then 0.7 %."""
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


async def _supervised(loop: Hook, service: Service) -> None:
    """Keep a background loop alive: log a crash, wait, start it again."""
    while True:
        try:
            await loop(service)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background loop %s crashed; restarting in 2s", loop.__name__)
            await asyncio.sleep(2.0)
