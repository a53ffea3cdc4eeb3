"""Tracing (OpenTelemetry) and structured JSON logs that carry the trace id.

The trace context rides in Kafka headers (W3C `traceparent`): the consumer continues it for each
event, the outbox stores it with each event it causes, and the relay sends it on.

Spans are recorded only when there is somewhere to send them (OTEL_EXPORTER_OTLP_ENDPOINT). Without
an exporter no SDK is installed: the API's no-op tracer still makes the incoming span context the
current one, so the `traceparent` of a consumed event still reaches the events it causes (and the
log lines carry its trace id), without the cost of building spans nobody reads.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def setup_tracing(service: str, otlp_endpoint: str | None) -> trace.TracerProvider:
    """The process's tracer provider: the SDK's, exporting to `otlp_endpoint`, or without one the
    API's own, which records nothing and propagates the context it is given."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider) or not otlp_endpoint:  # one per process (tests build several)
        return current
    provider = TracerProvider(resource=Resource.create({"service.name": f"tandem-{service}"}))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = otlp_endpoint.rstrip("/")
    if not endpoint.endswith("/v1/traces"):
        endpoint += "/v1/traces"
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return provider


def recording() -> bool:
    """Whether spans are recorded (an SDK provider with an exporter is installed in this process)."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


# Without an SDK nothing records spans, so a consumed event's W3C headers are passed on as they came:
# reading them into a context and writing them out again gives the same text, at a cost per event.
_PASSED_ON: ContextVar[dict[str, str] | None] = ContextVar("tandem_trace_headers", default=None)
_W3C = ("traceparent", "tracestate")


@contextmanager
def continuing(headers: Iterable[tuple[str, bytes]]) -> Iterator[None]:
    """Within this, what is emitted (and logged) continues the trace of the consumed record with
    these Kafka headers. Used by the consumer only when no spans are recorded (`recording()`)."""
    token = _PASSED_ON.set(trace_headers(headers))
    try:
        yield
    finally:
        _PASSED_ON.reset(token)


def trace_headers(headers: Iterable[tuple[str, bytes]]) -> dict[str, str] | None:
    """A Kafka record's W3C trace headers; None when it carries no trace."""
    found = {k: v.decode(errors="replace") for k, v in headers if k in _W3C}
    return found if "traceparent" in found else None


def current_trace_headers() -> dict[str, str]:
    """The current trace context as W3C headers, to store with an outgoing event."""
    passed = _PASSED_ON.get()
    if passed is not None:
        return dict(passed)
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from_headers(headers: Mapping[str, str]):
    return propagate.extract(dict(headers))


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
# PostgreSQL's DETAIL (and HINT) quote the row or key at fault, blank lines and all; in a traceback
# they run until the next chained exception or the end.
_DB_DETAIL = re.compile(r"\n(DETAIL|HINT):  .*?(?=\n\nThe above exception|\n\nDuring handling|\Z)", re.S)


def redact(text: str) -> str:
    """A last line of defence for the logs: e-mail addresses and passwords in URLs never get out.

    (The first line is that log messages and dead-letter reasons name people by id only.)"""
    return _EMAIL.sub("<email>", _URL_PASSWORD.sub(r"\1***@", _DB_DETAIL.sub(r"\n\1:  <redacted>", text)))


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        span = trace.get_current_span().get_span_context()
        passed = _PASSED_ON.get()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        elif passed is not None and len(parts := passed["traceparent"].split("-")) == 4:
            entry["trace_id"], entry["span_id"] = parts[1], parts[2]
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_fields(**fields) -> dict:
    """`logger.info("...", extra=log_fields(topic=...))` adds structured fields to the JSON line."""
    return {"fields": fields}
