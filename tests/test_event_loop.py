"""The processes' event loop and Redis parser: uvloop and hiredis, as the README's Speed section
says (both are dependencies of the package; uvloop everywhere but Windows)."""

from __future__ import annotations

import sys

import pytest
import redis.utils

from bot.__main__ import _new_loop


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop has no Windows build; asyncio's loop there")
def test_the_bot_runs_on_uvloop() -> None:
    import uvloop

    loop = _new_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_redis_answers_are_parsed_by_hiredis() -> None:
    assert redis.utils.HIREDIS_AVAILABLE
