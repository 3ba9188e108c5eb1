"""`/mida` text → a `Command`, or a `UsageError` that says what was wrong and the right form."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from bot.domain import Action, parse_percent, parse_test_id
from bot.mida.models import ReportPhase

USAGE = {
    "help": "/mida help",
    "connect": "/mida connect",
    "disconnect": "/mida disconnect",
    "status": "/mida status",
    "list": "/mida list",
    "results": "/mida results <test_id> [pre|post|all]",
    "serve-winner": "/mida serve-winner <test_id> [variant_id] [rollout%]",
    "rollout": "/mida rollout <test_id> <percent>",
    "stop-serving": "/mida stop-serving <test_id>",
    "ramp": "/mida ramp <test_id> <variant_id> <p1>,<p2>,...[ every <N><s|m|h|d>]   e.g. /mida ramp 1234 1 10,25,50,100 every 1d",
    "ramps": "/mida ramps",
    "pause": "/mida pause <test_id>",
    "resume": "/mida resume <test_id>",
    "watch": "/mida watch <test_id>   or   /mida watch all",
    "unwatch": "/mida unwatch <test_id>",
    "watching": "/mida watching",
    "audit": "/mida audit [test_id]   or   /mida audit export",
    "settings": "/mida settings",
}

_ALIASES = {"serve": "serve-winner", "winner": "serve-winner", "stop": "stop-serving"}
_PHASES = {
    "pre": ReportPhase.PRE_DEPLOY,
    "post": ReportPhase.POST_DEPLOY,
    "all": ReportPhase.ALL_TIME,
}
_VARIANT_ID = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")
_ACTIONS = {
    "serve-winner": Action.SERVE_WINNER,
    "rollout": Action.UPDATE_ROLLOUT,
    "stop-serving": Action.STOP_SERVING,
    "pause": Action.PAUSE_EXPERIMENT,
    "resume": Action.RESUME_EXPERIMENT,
}


class UsageError(Exception):
    def __init__(self, problem: str, usage: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.usage = usage


@dataclass(frozen=True)
class Command:
    name: str
    test_id: int | None = None
    variant_id: str | None = None
    rollout: float | None = None
    phase: ReportPhase | None = None
    export: bool = False
    unknown: str | None = None
    every_experiment: bool = False  # watch all
    steps: tuple[float, ...] = ()  # ramp: the rollout of each step
    interval_seconds: float | None = None  # ramp: the time between steps

    @property
    def action(self) -> Action | None:
        return _ACTIONS.get(self.name)


def parse(text: str) -> Command:
    words = text.split()
    if not words:
        return Command("help")
    name = _ALIASES.get(words[0].lower(), words[0].lower())
    args = words[1:]
    if name not in USAGE:
        return Command("help", unknown=_clip(words[0]))
    usage = USAGE[name]

    if name in {"help", "connect", "disconnect", "status", "list", "settings", "ramps", "watching"}:
        if args:
            raise UsageError(f"`{name}` takes no arguments.", usage)
        return Command(name)
    if name == "audit":
        if not args:
            return Command(name)
        if len(args) == 1 and args[0].lower() == "export":
            return Command(name, export=True)
        if len(args) == 1:
            return Command(name, test_id=_test_id(args[0], usage))
        raise UsageError("`audit` takes one test id, or `export`.", usage)
    if name == "watch" and len(args) == 1 and args[0].lower() == "all":
        return Command(name, every_experiment=True)
    if not args:
        raise UsageError("Give the experiment's test id.", usage)
    test_id = _test_id(args[0], usage)
    rest = args[1:]

    if name == "results":
        if len(rest) > 1:
            raise UsageError("Too many arguments.", usage)
        if not rest:
            return Command(name, test_id=test_id)
        phase = _PHASES.get(rest[0].lower().removesuffix("-deploy").removesuffix("_deploy"))
        if phase is None:
            raise UsageError(f"`{_clip(rest[0])}` is not a report phase: use pre, post or all.", usage)
        return Command(name, test_id=test_id, phase=phase)
    if name in {"stop-serving", "pause", "resume", "watch", "unwatch"}:
        if rest:
            raise UsageError(f"`{name}` takes only the test id.", usage)
        return Command(name, test_id=test_id)
    if name == "ramp":
        return _ramp(test_id, rest, usage)
    if name == "rollout":
        if len(rest) != 1:
            raise UsageError("Give the new rollout percentage, and nothing else.", usage)
        return Command(name, test_id=test_id, rollout=_percent(rest[0], usage))

    # serve-winner <test_id> [variant_id] [rollout%]
    if len(rest) > 2:
        raise UsageError("Too many arguments.", usage)
    variant_id: str | None = None
    rollout: float | None = None
    if len(rest) == 2:
        variant_id, rollout = _variant(rest[0], usage), _percent(rest[1], usage)
    elif len(rest) == 1:
        if rest[0].endswith("%"):
            rollout = _percent(rest[0], usage)
        else:
            variant_id = _variant(rest[0], usage)
    return Command(name, test_id=test_id, variant_id=variant_id, rollout=rollout)


DEFAULT_RAMP_INTERVAL = 86400.0
MAX_RAMP_STEPS = 10
_INTERVAL = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _ramp(test_id: int, rest: list[str], usage: str) -> Command:
    """<variant_id> <p1>,<p2>,... [every <N><s|m|h|d>]: 2 to 10 steps, strictly increasing, 1–100."""
    if len(rest) not in (2, 4):
        raise UsageError("Give the variant id, the rollout steps and, if you like, `every` and an interval.", usage)
    variant_id = _variant(rest[0], usage)
    parts = rest[1].split(",")
    if not 2 <= len(parts) <= MAX_RAMP_STEPS:
        raise UsageError(f"A ramp has 2 to {MAX_RAMP_STEPS} steps, separated by commas (10,25,50).", usage)
    steps = tuple(_percent(part, usage) for part in parts)
    if any(step < 1 for step in steps):
        raise UsageError("Each step is a rollout from 1 to 100 %.", usage)
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise UsageError("The steps must go up: each one larger than the one before (10,25,50).", usage)
    interval = DEFAULT_RAMP_INTERVAL
    if len(rest) == 4:
        match = _INTERVAL.match(rest[3].lower())
        if rest[2].lower() != "every" or match is None:
            raise UsageError(
                f"`{_clip(' '.join(rest[2:]))}` is not an interval: write it like `every 1d` or `every 6h`.", usage
            )
        interval = float(int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    return Command("ramp", test_id=test_id, variant_id=variant_id, steps=steps, interval_seconds=interval)


def _clip(word: str) -> str:
    return (word[:30] + "…" if len(word) > 30 else word).replace("`", "'")


def _test_id(word: str, usage: str) -> int:
    test_id = parse_test_id(word)
    if test_id is None:
        raise UsageError(f"`{_clip(word)}` is not a test id: write it like 1234 or #1234.", usage)
    return test_id


def _percent(word: str, usage: str) -> float:
    value = parse_percent(word)
    if value is None:
        raise UsageError(f"`{_clip(word)}` is not a percentage from 0 to 100: write it like 25 or 25%.", usage)
    return value


def _variant(word: str, usage: str) -> str:
    if not _VARIANT_ID.match(word):
        raise UsageError(f"`{_clip(word)}` is not a variant id: use the id shown by /mida results (0, 1, …).", usage)
    return word
