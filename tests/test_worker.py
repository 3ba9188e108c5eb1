"""The worker's sweeps: every registered one runs each round, and one that fails holds up no other."""

from __future__ import annotations

import asyncio

from bot.store.jobs import JobQueue
from bot.worker import Worker


async def test_a_failing_sweep_does_not_stop_the_others(redis):
    ran: list[str] = []

    async def broken() -> None:
        ran.append("broken")
        raise RuntimeError("Mida is down")

    async def expiry() -> None:
        ran.append("expiry")

    worker = Worker(JobQueue(redis, "test-worker"), intake=None, execution=None, sweeps=[broken, expiry], sweep_every=0.05,  # type: ignore[arg-type]
                    block_ms=20)
    task = asyncio.create_task(worker.run())
    for _ in range(100):
        if ran.count("expiry") >= 3:
            break
        await asyncio.sleep(0.02)
    await worker.stop()
    task.cancel()
    assert ran.count("expiry") >= 3 and ran.count("broken") >= 3
    assert ran[:2] == ["broken", "expiry"]  # in the order registered
