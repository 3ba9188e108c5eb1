"""The check of the bot's work after each ack: every command's results message, every click's
outcome (a refusal posted, or the approval on the card in Redis), every quorum executed, both
queues empty; and how long after the ack each piece was done."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from bench.load.generator import pct
from bench.load.processes import Bot
from bench.load.scenario import APPROVALS_NEEDED, JOBS_STREAM, LAZY_STREAM, Tracked
from bench.load.services import Services
from standins.people import TEAM


@dataclass
class Work:
    """What became of the commands and clicks sent to the bot."""

    commands: int = 0  # acked
    results: int = 0  # exactly one results message
    clicks: int = 0  # acked
    approvals: int = 0  # clicks whose approval is on the card
    duplicates: int = 0  # clicks refused: already approved by this person
    finished: int = 0  # clicks refused: the request is already approved / executing / done
    problems: dict[str, int] = field(default_factory=dict)  # missing, doubled, wrong answers
    quorums: int = 0  # requests that reached their approvals
    statuses: dict[str, int] = field(default_factory=dict)  # of those requests
    unexplained_approvals: int = 0  # approvals on a card that no click without a reply accounts for
    queues: dict[str, int] = field(default_factory=dict)
    latency: dict[str, list[float]] = field(default_factory=dict)  # ack → done, per outcome, seconds
    last_done: float = 0.0  # wall clock of the last piece of work done

    def done(self, at: float) -> None:
        self.last_done = max(self.last_done, at)

    def problem(self, what: str, n: int = 1) -> None:
        if n:
            self.problems[what] = self.problems.get(what, 0) + n

    @property
    def executed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status in ("succeeded", "superseded"))

    @property
    def complete(self) -> bool:
        """Every acked command and click has its outcome, every quorum was executed, queues empty."""
        return (self.results == self.commands
                and self.approvals + self.duplicates + self.finished == self.clicks
                and not self.problems and not self.unexplained_approvals
                and self.executed == self.quorums and not any(self.queues.values()))

    def summary(self) -> str:
        problems = ", ".join(f"{k}: {v}" for k, v in self.problems.items()) or "none"
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())) or "-"
        return (f"commands: {self.results}/{self.commands} results messages posted; "
                f"clicks: {self.approvals + self.duplicates + self.finished}/{self.clicks} with their outcome "
                f"({self.approvals} approvals recorded, {self.duplicates} refused as duplicates, "
                f"{self.finished} refused as finished); {self.quorums} requests reached their quorum: "
                f"{statuses}; queues: {self.queues}; problems: {problems}")

    def latency_lines(self) -> list[str]:
        out = []
        for what, values in self.latency.items():
            if values:
                out.append(f"  {what:22} n {len(values):5d}  p50 {pct(values, 0.5):8.1f} ms  p99 "
                           f"{pct(values, 0.99):8.1f} ms  max {pct(values, 1.0):8.1f} ms")
        return out


class AfterAck:
    """Collects what the bot did after its acks: the stand-in's response_url posts, the cards in Redis."""

    def __init__(self, services: Services, client: aioredis.Redis, cards: list[dict[str, str]]) -> None:
        from bot.domain import TeamRef
        from bot.store.requests import RequestStore

        self.services = services
        self.client = client
        self.store = RequestStore(client)
        self.team = TeamRef(team_id=TEAM)
        self.cards = [c["request_id"] for c in cards]
        self.posts: dict[str, list[tuple[float, str, bool]]] = {}
        self._offset = 0

    def pull(self) -> None:
        fresh = self.services.call("responses", self._offset)
        self._offset += len(fresh)
        for name, at, text, results in fresh:
            self.posts.setdefault(name, []).append((at, text, results))

    async def check(self, ledger: list[Tracked], phases: tuple[str, ...]) -> Work:
        """The outcome of every acked command and click in `ledger`; ack → done latencies for those
        sent in `phases`."""
        self.pull()
        work = Work(latency={"command → results": [], "click → approval": [], "click → refusal": [],
                             "click → executed": []})
        requests = {rid: await self.store.get(self.team, rid) for rid in self.cards}
        # (card, person) → (when recorded, which approval of the card it was)
        approved = {(rid, a.approver.user_id): (a.at, n) for rid, req in requests.items() if req
                    for n, a in enumerate(req.approvals)}
        matched: set[tuple[str, str]] = set()
        for t in ledger:
            if t.acked_at is None:
                continue
            posts = self.posts.get(t.name, [])
            timed = t.phase in phases
            if t.kind == "command":
                work.commands += 1
                if not posts:
                    work.problem("command: no results yet")
                elif len(posts) > 1:
                    work.problem("command: answered twice")
                elif not posts[0][2]:
                    work.problem(f"command answered: {posts[0][1][:80]!r}")
                else:
                    work.results += 1
                    work.done(posts[0][0])
                    if timed:
                        work.latency["command → results"].append(posts[0][0] - t.acked_at)
                continue
            work.clicks += 1
            key = (t.card or "", t.user or "")
            if len(posts) > 1:
                work.problem("click: answered twice")
            elif posts:
                text = posts[0][1]
                if "already approved this request" in text:
                    work.duplicates += 1
                elif "This request is already" in text:
                    work.finished += 1
                else:
                    work.problem(f"click answered: {text[:80]!r}")
                    continue
                work.done(posts[0][0])
                if timed:
                    work.latency["click → refusal"].append(posts[0][0] - t.acked_at)
            elif key in approved and key not in matched:
                matched.add(key)
                work.approvals += 1
                at, n = approved[key]
                work.done(at)
                outcome = requests[key[0]].outcome  # type: ignore[union-attr]
                if timed:
                    work.latency["click → approval"].append(at - t.acked_at)
                    if n == APPROVALS_NEEDED - 1 and outcome is not None:  # this click made the quorum
                        work.latency["click → executed"].append(outcome.at - t.acked_at)
            else:
                work.problem("click: no outcome yet")
        work.unexplained_approvals = len(set(approved) - matched)
        for req in requests.values():
            if req is not None and len(req.approvals) >= APPROVALS_NEEDED:
                work.quorums += 1
                work.statuses[req.status.value] = work.statuses.get(req.status.value, 0) + 1
                if req.outcome is not None:
                    work.done(req.outcome.at)
        work.queues = {stream: int(await self.client.xlen(stream)) for stream in (LAZY_STREAM, JOBS_STREAM)}
        return work

    async def drained(self, ledger: list[Tracked], phases: tuple[str, ...], timeout: float,
                      bot: Bot) -> Work:
        """Wait until all the work is done and the queues are empty (or `timeout`)."""
        started = time.monotonic()
        while True:
            work = await self.check(ledger, phases)
            if work.complete or time.monotonic() - started > timeout:
                return work
            bot.check_alive()
            await asyncio.sleep(0.25)
