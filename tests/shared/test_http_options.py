"""How a service's web server is set up: forwarded headers only from trusted proxies, and /metrics
on its own port or, in development without one, on the http port (shared/service.py)."""

from __future__ import annotations

import socket

import pytest

from shared.service import http_server_options, serve_metrics
from shared.settings import ServiceSettings


def test_forwarded_headers_are_ignored_unless_a_proxy_is_trusted():
    plain = http_server_options(ServiceSettings())
    assert plain["proxy_headers"] is False  # uvicorn would otherwise trust 127.0.0.1 by default
    trusted = http_server_options(ServiceSettings(trusted_proxies="10.0.0.5, 172.16.0.0/12"))
    assert trusted["proxy_headers"] is True and trusted["forwarded_allow_ips"] == "10.0.0.5, 172.16.0.0/12"


def test_services_run_on_uvloop():
    import uvicorn
    import uvloop

    loop = uvicorn.Config(app=None, **http_server_options(ServiceSettings())).get_loop_factory()()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_metrics_stay_on_the_http_port_only_in_development_without_a_metrics_port():
    assert ServiceSettings().metrics_on_http_port
    assert not ServiceSettings(metrics_port=9464).metrics_on_http_port
    assert not ServiceSettings(env="production").metrics_on_http_port


def test_a_taken_metrics_port_stops_the_start_with_a_clear_message():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit, match=f"cannot serve /metrics on 127.0.0.1:{port} \\(TANDEM_METRICS_PORT\\)"):
            serve_metrics(ServiceSettings(metrics_port=port))
