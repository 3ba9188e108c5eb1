"""bot/logs.py's formats on records made here: the scrubber applies to JSON lines too (the message,
text fields, fields that are lists or dicts, tracebacks), and the correlation id of the context is
on every line of both formats."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from bot.logs import SECRETS, configure_logging, correlation_id, new_correlation_id, set_correlation_id

SECRET = "xoxb-unit-test-secret-0123456789"


@pytest.fixture
def logs():
    """configure_logging(level, fmt) writing to a buffer it returns; the root logger put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    SECRETS.add(SECRET)

    def configure(fmt: str) -> io.StringIO:
        configure_logging("INFO", fmt)
        stream = io.StringIO()
        root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
        return stream

    yield configure
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_are_scrubbed_everywhere(logs):
    captured = logs("json")
    log = logging.getLogger("bot.test")
    log.info("token %s", SECRET, extra={"plain": SECRET, "nested": {"token": SECRET}, "count": 3})
    try:
        raise ValueError(f"bad {SECRET}")
    except ValueError:
        log.exception("failed")
    first, second = (json.loads(line) for line in captured.getvalue().splitlines())
    assert first["message"] == "token [redacted]" and first["level"] == "INFO" and first["logger"] == "bot.test"
    assert first["plain"] == "[redacted]" and first["nested"] == {"token": "[redacted]"} and first["count"] == 3
    assert second["level"] == "ERROR" and "ValueError: bad [redacted]" in second["exception"]
    assert SECRET not in captured.getvalue()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_correlation_id_of_the_context_is_on_each_line(logs, fmt):
    captured = logs(fmt)
    log = logging.getLogger("bot.test")

    async def one_request() -> str:
        cid = new_correlation_id()
        log.info("inside")
        return cid

    async def main() -> tuple[str, str]:
        # Each task has its own: ids do not leak from one request's task to another's.
        return await asyncio.create_task(one_request()), await asyncio.create_task(one_request())

    first, second = asyncio.run(main())
    assert first != second and correlation_id() is None
    log.info("outside")
    lines = captured.getvalue().splitlines()
    if fmt == "json":
        assert [json.loads(line).get("correlation_id") for line in lines] == [first, second, None]
    else:
        assert f"correlation_id='{first}'" in lines[0] and f"correlation_id='{second}'" in lines[1]
        assert "correlation_id" not in lines[2]


def test_an_id_read_back_from_a_queue_is_taken_up_unless_absurd():
    async def take(value: str | None) -> str | None:
        set_correlation_id(value)
        return correlation_id()

    assert asyncio.run(take("0123abcd")) == "0123abcd"
    assert asyncio.run(take(None)) is None
    assert asyncio.run(take("x" * 65)) is None
