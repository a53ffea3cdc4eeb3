"""aiokafka's metadata task survives an exception in one refresh (shared.kafka_resilience): those
waiting for fresh metadata get their answer, and the failure is logged."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest
from aiokafka.client import AIOKafkaClient

from shared import kafka_resilience


def _client_whose_refresh_fails(times: int, error: BaseException) -> tuple[AIOKafkaClient, list[str]]:
    client = AIOKafkaClient(bootstrap_servers="127.0.0.1:9", client_id="tandem-test")  # never connects
    calls: list[str] = []

    async def refresh(cluster, topics):
        calls.append("refresh")
        if len(calls) <= times:
            raise error
        return True

    client._metadata_update = refresh  # type: ignore[method-assign]
    return client, calls


@pytest.mark.parametrize("error", [RuntimeError("unexpected"), asyncio.CancelledError()])
async def test_a_refresh_that_raises_does_not_leave_those_waiting_waiting_for_ever(error, caplog):
    kafka_resilience.keep_alive()
    client, calls = _client_whose_refresh_fails(1, error)
    task = asyncio.create_task(client._md_synchronizer())
    try:
        with caplog.at_level(logging.ERROR, logger="shared.kafka_resilience"):
            assert await asyncio.wait_for(client.force_metadata_update(), 10) is True
        assert calls == ["refresh", "refresh"]
        assert not task.done()  # still there for the next refresh
        assert "its metadata task" in caplog.text and "tandem-test" in caplog.text
        assert await asyncio.wait_for(client.force_metadata_update(), 10) is True  # and the next
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_client_closing_still_ends_the_task():
    kafka_resilience.keep_alive()
    client, _ = _client_whose_refresh_fails(0, RuntimeError())
    task = asyncio.create_task(client._md_synchronizer())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_installed_once():
    kafka_resilience.keep_alive()
    wrapped = AIOKafkaClient._md_synchronizer
    kafka_resilience.keep_alive()
    assert AIOKafkaClient._md_synchronizer is wrapped is kafka_resilience._synchronizer_that_survives


class _ClosedTransport:
    def is_closing(self) -> bool:
        return True


class _WriterOfAClosedSocket:
    """What uvloop's stream writer does once the socket has closed under it."""

    transport = _ClosedTransport()
    closed = False

    def write(self, data: bytes) -> None:
        raise RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is closed")

    def close(self) -> None:
        self.closed = True


class _Request:
    def prepare(self, versions):
        return self

    def build_request_header(self, correlation_id, client_id):
        return self

    def encode(self) -> bytes:
        return b"x"


async def test_a_request_written_to_a_closed_socket_fails_as_a_broken_connection():
    from aiokafka.conn import AIOKafkaConnection
    from aiokafka.errors import KafkaConnectionError

    kafka_resilience.keep_alive()
    conn = AIOKafkaConnection("127.0.0.1", 9)
    writer = _WriterOfAClosedSocket()
    conn._writer, conn._reader = writer, object()
    conn._read_task = asyncio.get_running_loop().create_future()
    conn._read_task.set_result(None)
    with pytest.raises(KafkaConnectionError, match="broken"):  # retried by every caller, unlike RuntimeError
        conn.send(_Request())
    assert writer.closed and not conn.connected()  # the next request opens a new connection
