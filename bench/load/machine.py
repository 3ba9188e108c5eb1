"""Where the machine's time went: CPU of each process and of the whole machine, hypervisor steal,
Linux CPU pressure, how late the load generator's own loop runs, and the bot's queue backlog."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Self

import redis.asyncio as aioredis

from bench.load.generator import pct
from bench.load.scenario import JOBS_STREAM, LAZY_STREAM


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float, float]:
    """(busy, total, steal) CPU seconds of the whole machine so far, from /proc/stat; steal is time
    the hypervisor gave our vCPUs to someone else (counted as busy)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    total = sum(values) / os.sysconf("SC_CLK_TCK")
    idle = (values[3] + values[4]) / os.sysconf("SC_CLK_TCK")
    return total - idle, total, values[7] / os.sysconf("SC_CLK_TCK")


def cpu_pressure() -> float:
    """Seconds so far in which some runnable task waited for a CPU (Linux PSI); 0 without PSI."""
    try:
        line = Path("/proc/pressure/cpu").read_text().split("\n", 1)[0]
    except OSError:
        return 0.0
    return int(line.rsplit("total=", 1)[1]) / 1e6


def preempted(pid: int) -> int:
    """How often the process was switched out while it could still run (involuntary switches)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("nonvoluntary_ctxt_switches:"):
            return int(line.split()[1])
    return 0


def load_average() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


class CpuMeter:
    """Where the machine's CPU went during a phase: each of our processes, and everything else."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def __enter__(self) -> Self:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._machine = machine_busy()
        self._pressure = cpu_pressure()
        self._wall = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.used = {name: cpu_seconds(pid) - self._start[name] for name, pid in self.pids.items()}
        busy, total, steal = machine_busy()
        self.wall = time.monotonic() - self._wall
        self.machine_busy = busy - self._machine[0]
        self.steal = (steal - self._machine[2]) / self.wall if self.wall > 0 else 0.0
        self.pressure = (cpu_pressure() - self._pressure) / self.wall if self.wall > 0 else 0.0
        self.cores = (total - self._machine[1]) / self.wall if self.wall > 0 else 1.0

    @property
    def others(self) -> float:
        """Share of one core used by everything outside the bench during the phase."""
        return max(0.0, self.machine_busy - sum(self.used.values())) / self.wall

    def line(self) -> str:
        parts = [f"{name} {100 * used / self.wall:.0f}%" for name, used in self.used.items()]
        return (f"{', '.join(parts)}, everything else on the machine {100 * self.others:.0f}% "
                f"(of {100 * self.cores:.0f}%; of which stolen by the hypervisor {100 * self.steal:.0f}%); "
                f"some task waiting for a CPU {100 * self.pressure:.0f}% of the time")


class LoopLag:
    """How late the load generator's own event loop runs (a 10 ms timer, over and over): a stalled
    generator would inflate the latencies it measures."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.01
            await asyncio.sleep(0.01)
            self.lags.append(max(0.0, loop.time() - due))

    def __enter__(self) -> Self:
        self.lags = []
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    def line(self) -> str:
        return (f"load generator's loop late by p99 {pct(self.lags, 0.99):.1f} ms, max {pct(self.lags, 1.0):.1f} ms "
                f"({sum(1 for v in self.lags if v > 0.02)} times over 20 ms)")


class QueueWatch:
    """Samples the length of both streams (entries are deleted once done, so length = backlog)
    every 0.2 s, and once a second the CPU of `pids` and of the whole machine, for `save()`."""

    def __init__(self, client: aioredis.Redis, pids: dict[str, int] | None = None) -> None:
        self.client = client
        self.pids = pids or {}
        self.peak = {LAZY_STREAM: 0, JOBS_STREAM: 0}
        self.rows: list[list[float]] = []
        self._task: asyncio.Task[None] | None = None

    async def lengths(self) -> dict[str, int]:
        return {stream: int(await self.client.xlen(stream)) for stream in self.peak}

    async def _run(self) -> None:
        started = last = time.monotonic()
        cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        switches = {name: preempted(pid) for name, pid in self.pids.items()}
        machine, pressure = machine_busy()[0], cpu_pressure()
        while True:
            lengths = await self.lengths()
            for stream, n in lengths.items():
                self.peak[stream] = max(self.peak[stream], n)
            now = time.monotonic()
            if now - last >= 1.0:
                cpu_now = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
                switches_now = {name: preempted(pid) for name, pid in self.pids.items()}
                machine_now, pressure_now = machine_busy()[0], cpu_pressure()
                self.rows.append([now - started, *lengths.values(),
                                  *(100 * (cpu_now[k] - cpu[k]) / (now - last) for k in self.pids),
                                  *((switches_now[k] - switches[k]) / (now - last) for k in self.pids),
                                  100 * (machine_now - machine) / (now - last),
                                  100 * (pressure_now - pressure) / (now - last)])
                cpu, switches, machine, pressure, last = cpu_now, switches_now, machine_now, pressure_now, now
            await asyncio.sleep(0.2)

    def __enter__(self) -> Self:
        self.peak = {stream: 0 for stream in self.peak}
        self.rows = []
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    def save(self, path: Path) -> None:
        head = ["s", LAZY_STREAM, JOBS_STREAM, *(f"{k} cpu %" for k in self.pids),
                *(f"{k} preempted /s" for k in self.pids), "machine cpu %", "cpu pressure %"]
        path.write_text(",".join(head) + "\n" + "".join(",".join(f"{v:.1f}" for v in row) + "\n" for row in self.rows))

    def line(self) -> str:
        return f"largest backlog: {self.peak[LAZY_STREAM]} in {LAZY_STREAM}, {self.peak[JOBS_STREAM]} in {JOBS_STREAM}"
