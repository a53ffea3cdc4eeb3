"""The test client's Watcher: whether it has read everything its topics held a moment ago."""

from __future__ import annotations

import pytest

from shared.contracts import topics
from tandem.client import Publisher, Watcher
from tests.support.runtime import eventually

pytestmark = pytest.mark.integration


async def test_caught_up_only_once_what_was_published_is_read(bootstrap_servers, topic_prefix):
    async with Publisher(bootstrap_servers, topic_prefix=topic_prefix) as pub:
        for i in range(50):
            await pub.send_raw(topics.FEEDBACK, b"{}", key=f"k-{i}", wait=False)
        await pub.send_raw(topics.FEEDBACK, b"{}", key="last")
        async with Watcher(bootstrap_servers, [topics.FEEDBACK], topic_prefix) as w:
            await eventually(w.caught_up, 60, "the watcher reading what was published")
            assert len(w.on_topic(topics.FEEDBACK)) == 51  # all read the moment it says so, none later
            await pub.send_raw(topics.FEEDBACK, b"{}", key="after")
            assert not await w.caught_up() or len(w.on_topic(topics.FEEDBACK)) == 52
