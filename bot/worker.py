"""The background loop every bot process runs: execute queued changes, take over the ones a dead
process left behind, and run the registered sweeps (the due-time scheduler, `services/scheduler.py`:
expiry of requests nobody answered, due follow-ups, and whatever a feature registers there) every
`sweep_every` seconds."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.logs import set_correlation_id
from bot.services.changes.execution import ExecutionDeferred, ExecutionService
from bot.services.changes.intake import ChangeIntake
from bot.store.jobs import ANNOUNCE, Job, JobQueue
from bot.store.keys import team_from_key

log = logging.getLogger(__name__)

Sweep = Callable[[], Awaitable[object]]
"""Periodic work, safe to run from every process at once (each claims what it does)."""


class Worker:
    def __init__(
        self,
        jobs: JobQueue,
        intake: ChangeIntake,
        execution: ExecutionService,
        *,
        sweeps: Sequence[Sweep] = (),
        sweep_every: float = 5.0,
        block_ms: int = 1000,
    ) -> None:
        self._jobs = jobs
        self._intake = intake
        self._execution = execution
        self._sweeps = tuple(sweeps)
        self._sweep_every = sweep_every
        self._block_ms = block_ms
        self._stopping = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        last_sweep = 0.0
        while not self._stopping.is_set():
            try:
                await self._jobs.ensure_group()
                if time.monotonic() - last_sweep >= self._sweep_every:
                    last_sweep = time.monotonic()
                    await self._sweep()
                    for job in await self._jobs.claim_stale():
                        self._start(job, recovering=True)
                for job in await self._jobs.next_batch(block_ms=self._block_ms):
                    self._start(job, recovering=False)
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError) as err:
                log.warning("worker cannot reach Redis; retrying", extra={"error": type(err).__name__})
                await self._pause(1.0)
            except Exception:
                log.exception("worker loop failed; retrying")
                await self._pause(1.0)

    async def _sweep(self) -> None:
        """Each sweep on its own: one that fails (Mida or Slack down) does not hold up the others."""
        for sweep in self._sweeps:
            try:
                await sweep()
            except asyncio.CancelledError:
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError):
                raise  # the loop pauses and retries
            except Exception:
                log.exception(
                    "sweep failed; it runs again next time", extra={"sweep": getattr(sweep, "__qualname__", "")}
                )

    def _start(self, job: Job, *, recovering: bool) -> None:
        # Jobs run concurrently so one slow Mida call does not hold up other workspaces.
        task = asyncio.create_task(self._execute(job, recovering=recovering))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _execute(self, job: Job, *, recovering: bool) -> None:
        set_correlation_id(job.correlation_id)  # this task's own context: the request that queued it
        heartbeat = asyncio.create_task(self._keep_claimed(job))
        try:
            if job.kind == ANNOUNCE:
                await self._intake.announce(team_from_key(job.team_key), job.request_id)
            else:
                await self._execution.execute(team_from_key(job.team_key), job.request_id, recovering=recovering)
        except ExecutionDeferred:
            log.info("execution deferred; another attempt later", extra={"request": job.request_id})
            self._jobs.release(job)
            return
        except Exception:
            log.exception("execution failed; it will be retried", extra={"request": job.request_id})
            self._jobs.release(job)
            return
        finally:
            heartbeat.cancel()
        await self._jobs.ack(job)

    async def _keep_claimed(self, job: Job) -> None:
        """While a job runs (a slow Mida call may outlast the stale time), keep its queue entry
        fresh so that no other process takes it over and sends the change a second time."""
        every = self._jobs.stale_after_ms / 3000
        while True:
            await asyncio.sleep(every)
            try:
                await self._jobs.touch(job)
            except (RedisError, OSError) as err:
                log.warning("could not keep a running job claimed", extra={"error": type(err).__name__})

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def stop(self) -> None:
        self._stopping.set()
        if self._running:
            await asyncio.wait(self._running, timeout=30)
