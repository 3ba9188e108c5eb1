"""Reading the result and the secondary metrics at once: a failed result leaves no read behind."""

import asyncio

import pytest

from bot.services.experiments import _beside


async def test_both_answers_when_both_succeed():
    async def value(v, delay):
        await asyncio.sleep(delay)
        return v

    assert await _beside(value(1, 0.01), value(2, 0.02)) == (1, 2)


async def test_a_failed_main_read_cancels_the_other_instead_of_leaving_it_running():
    started, finished = asyncio.Event(), []

    async def slow_metrics():
        started.set()
        await asyncio.sleep(1)
        finished.append(True)

    async def failing_result():
        await started.wait()
        raise RuntimeError("Mida is down")

    with pytest.raises(RuntimeError):
        await _beside(failing_result(), slow_metrics())
    await asyncio.sleep(1.1)
    assert finished == []  # cancelled: it made no call after the answer had gone
