"""The runtime every service shares: database, migrations, Kafka, outbox relay, background loops,
and an HTTP side door with /healthz, /readyz and /metrics.

A service is declared with its name, schema, migrations and an `EventRouter`; `build_app()` gives an
ASGI app (FastStream's `AsgiFastStream`) that uvicorn serves, so SIGTERM/Ctrl-C stop it cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import REGISTRY, make_asgi_app

from shared.clock import ProgramClock
from shared.consumer import EventRouter, Runtime
from shared.db import create_pool, migrate
from shared.kafka import make_producer
from shared.outbox import OutboxRelay
from shared.settings import ServiceSettings
from shared.telemetry import setup_logging, setup_tracing
from shared.unit_of_work import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

Hook = Callable[["Service"], Awaitable[Any]]


class Service:
    def __init__(self, *, name: str, schema: str, settings: ServiceSettings, migrations: Path, router: EventRouter,
                 on_start: Sequence[Hook] = (), background: Sequence[Hook] = ()) -> None:
        self.name = name
        self.schema = schema
        self.settings = settings
        self.migrations = migrations
        self.router = router
        self.on_start = list(on_start)
        self.background = list(background)
        self.clock = ProgramClock.from_settings(settings)
        self.tracer_provider = setup_tracing(name, settings.otel_exporter_otlp_endpoint)
        self.broker = KafkaBroker(
            settings.kafka_bootstrap_servers,
            client_id=f"tandem-{name}",
            middlewares=(
                KafkaTelemetryMiddleware(tracer_provider=self.tracer_provider),
                KafkaPrometheusMiddleware(registry=REGISTRY, app_name=f"tandem-{name}"),
            ),
            graceful_timeout=15.0,
            logger=logging.getLogger(f"tandem.{name}.broker"),  # our JSON log lines, not FastStream's own format
        )
        self.producer = None  # created inside the event loop (aiokafka needs a running loop)
        self.pool: asyncpg.Pool | None = None
        self.state: dict[str, Any] = {}  # service-specific objects (indexes, senders, ...)
        self._tasks: list[asyncio.Task] = []
        self.runtime = Runtime(
            name=name,
            topic_prefix=settings.topic_prefix,
            producer=None,
            transaction=self.transaction,
            max_attempts=settings.max_attempts,
            max_deferrals=settings.max_deferrals,
            backoff=settings.retry_backoff_seconds,
            backoff_max=settings.retry_backoff_max_seconds,
        )
        router.attach(self.broker, self.runtime)

    def transaction(self) -> contextlib.AbstractAsyncContextManager[UnitOfWork]:
        assert self.pool is not None, "service not started"
        return unit_of_work(self.pool, source=f"/tandem/{self.name}", clock=self.clock, schema=self.schema)

    # --- life cycle ------------------------------------------------------------------------------

    async def _start_storage(self) -> None:
        self.pool = await _retry_connect(self.settings.database_url, self.schema, self.settings.db_pool_size)
        await migrate(self.pool, self.schema, self.migrations)
        self.producer = make_producer(self.settings.kafka_bootstrap_servers, f"tandem-{self.name}")
        self.runtime.producer = self.producer
        await _retry(self.producer.start, "Kafka")
        for hook in self.on_start:
            await hook(self)

    async def _start_loops(self) -> None:
        assert self.pool is not None
        relay = OutboxRelay(
            self.pool, self.producer, database_url=self.settings.database_url, service=self.name, schema=self.schema,
            topic_prefix=self.settings.topic_prefix, batch_size=self.settings.outbox_batch_size,
            poll_seconds=self.settings.outbox_poll_seconds,
        )
        self._tasks.append(asyncio.create_task(relay.run(), name=f"{self.name}-outbox"))
        for loop in self.background:
            self._tasks.append(asyncio.create_task(_supervised(loop, self), name=f"{self.name}-{loop.__name__}"))
        log.info("%s started", self.name)

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
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
            await self.broker.stop()
            await self._stop()

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

    def build_app(self) -> AsgiFastStream:
        import json

        @get
        async def healthz(scope) -> AsgiResponse:
            return AsgiResponse(b'{"status":"ok"}', 200, {"content-type": "application/json"})

        @get
        async def readyz(scope) -> AsgiResponse:
            checks = await self.readiness()
            ok = all(checks.values())
            body = json.dumps({"status": "ready" if ok else "not ready", **checks}).encode()
            return AsgiResponse(body, 200 if ok else 503, {"content-type": "application/json"})

        return AsgiFastStream(
            self.broker,
            asgi_routes=[("/healthz", healthz), ("/readyz", readyz), ("/metrics", make_asgi_app(REGISTRY))],
            on_startup=[self._start_storage],
            after_startup=[self._start_loops],
            after_shutdown=[self._stop],  # after the broker has drained in-flight handlers
            logger=logging.getLogger(f"tandem.{self.name}.app"),
        )

    def run(self) -> None:
        import uvicorn

        setup_logging(self.name, self.settings.log_level)
        uvicorn.run(self.build_app(), host=self.settings.http_host, port=self.settings.http_port,
                    log_config=None, lifespan="on", timeout_graceful_shutdown=20)


async def _retry_connect(url: str, schema: str, size: int, attempts: int = 60) -> asyncpg.Pool:
    for attempt in range(1, attempts + 1):
        try:
            return await create_pool(url, schema, size=size)
        except (OSError, asyncpg.PostgresError) as exc:
            if attempt == attempts:
                raise
            log.warning("database not reachable yet (%r), retrying", exc)
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


async def _retry(start: Callable[[], Awaitable[Any]], what: str, attempts: int = 60) -> None:
    for attempt in range(1, attempts + 1):
        try:
            await start()
            return
        except Exception as exc:
            if attempt == attempts:
                raise
            log.warning("%s not reachable yet (%r), retrying", what, exc)
            await asyncio.sleep(1.0)


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
