"""The queued copy of a request, as the worker reads it back from Redis."""

from __future__ import annotations

import json

from bot.slack.lazy_queue import LazyQueue
from bot.store.keys import LAZY_STREAM
from standins.slack_requests import slash_command


async def test_a_raw_form_queued_by_an_older_web_process_is_read_with_all_its_fields(redis):
    raw, content_type = slash_command("results 1234", channel_name="payload-team")
    headers = {"content-type": [content_type], "x-slack-request-timestamp": ["1700000000"]}
    await redis.xadd(LAZY_STREAM, {"fn": "run_mida_command", "body": raw, "headers": json.dumps(headers)})
    queue = LazyQueue(redis, "test-consumer")
    await queue.ensure_group()

    [item] = await queue.next_batch(block_ms=100)

    assert item.request.lazy_only and item.request.lazy_function_name == "run_mida_command"
    body = item.request.body
    assert (body["command"], body["text"], body["channel_name"]) == ("/mida", "results 1234", "payload-team")
