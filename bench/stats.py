"""Time the evidence statistics (bot/evidence) on a few experiment shapes and print their figures.

    .venv/bin/python -m bench.stats [--repeat 30]

Each timing is one full `analyse()` (every comparison, probability to be best or Holm, the split
check, the verdict, the guardrails of every arm) from a cold start: the caches of bot/evidence are
cleared before every run, so no run reuses another's sums. Target (issue 11): a 4-arm experiment
with 1e6 visitors per arm under 20 ms. Exit status 1 when the median misses it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from bot.evidence import stats, words
from bot.evidence.analysis import Analysis, ArmInput, ExperimentInput, analyse

M = 10**6
TARGET_MS = 20.0


def _arms(rows: list[tuple[str, int, int, float | None]]) -> tuple[ArmInput, ...]:
    return tuple(
        ArmInput(str(i), name, i == 0, n, c, w, "active" if w != 0 else "paused")
        for i, (name, n, c, w) in enumerate(rows)
    )


SHAPES: list[tuple[str, ExperimentInput]] = [
    (
        "4 arms, 1e6 visitors each, ~5 % (target)",
        ExperimentInput(
            "bayesian",
            95,
            False,
            21,
            _arms([("Control", M, 50_000, 25), ("V1", M, 50_300, 25), ("V2", M, 49_800, 25), ("V3", M, 50_500, 25)]),
        ),
    ),
    (
        "same, frequentist",
        ExperimentInput(
            "frequentist",
            95,
            False,
            21,
            _arms([("Control", M, 50_000, 25), ("V1", M, 50_300, 25), ("V2", M, 49_800, 25), ("V3", M, 50_500, 25)]),
        ),
    ),
    (
        "4 arms, 1e6 visitors each, ~50 % (longest sums)",
        ExperimentInput(
            "bayesian",
            95,
            False,
            21,
            _arms(
                [("Control", M, 500_000, 25), ("V1", M, 500_900, 25), ("V2", M, 499_500, 25), ("V3", M, 501_000, 25)]
            ),
        ),
    ),
    (
        "2 arms, Mida's docs example",
        ExperimentInput(
            "bayesian", 95, False, 15, _arms([("Control", 1500, 120, 50), ("Red CTA Button", 1480, 148, 50)])
        ),
    ),
    (
        "2 arms, 1e7 visitors each",
        ExperimentInput(
            "bayesian", 99, False, 40, _arms([("Control", 10 * M, 500_000, 50), ("B", 10 * M, 503_000, 50)])
        ),
    ),
    (
        "3 arms, tiny, 3 days",
        ExperimentInput("bayesian", 90, False, 3, _arms([("Control", 40, 2, 34), ("B", 38, 5, 33), ("C", 41, 0, 33)])),
    ),
    (
        "3 arms, SRM and a paused arm with traffic",
        ExperimentInput(
            "frequentist",
            95,
            False,
            12,
            _arms([("Control", 10_000, 500, 50), ("B", 9000, 520, 50), ("Old", 3000, 150, 0)]),
        ),
    ),
]


def _cold() -> None:
    stats.beat_probabilities.cache_clear()
    stats._lgamma_dec.cache_clear()


def time_shape(experiment: ExperimentInput, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        _cold()
        start = time.perf_counter()
        analyse(experiment)
        out.append((time.perf_counter() - start) * 1000)
    return out


def describe(a: Analysis) -> list[str]:
    lines = [f"    {words.variant_line(a, c)}" for c in a.comparisons]
    if a.control_prob_best is not None:
        lines.append(f"    {a.control.name}: {words.fmt_prob_best(a.control_prob_best)}")
    if a.srm.checked:
        lines.append(f"    split check: {words.fmt_p(a.srm.p)} ({a.srm.level or 'fine'})")
    lines.append(f"    verdict: {a.verdict.words}")
    served = a.verdict.variant_id or max(a.comparisons, key=lambda c: c.rate or 0).variant_id
    for f in a.guardrails(served):
        lines.append(
            f"    serving {a.comparison(served).name if served != a.control.variant_id else a.control.name}: [{f.level}] {f.words}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}; {args.repeat} cold runs per shape; times in ms (min / median / max)")
    target_median = None
    for i, (label, experiment) in enumerate(SHAPES):
        times = time_shape(experiment, args.repeat)
        median = statistics.median(times)
        if i == 0:
            target_median = median
        print(f"\n{label}: {min(times):.2f} / {median:.2f} / {max(times):.2f}")
        for line in describe(analyse(experiment)):
            print(line)
    assert target_median is not None
    met = target_median < TARGET_MS
    print(
        f"\ntarget: 4 arms × 1e6 visitors under {TARGET_MS:g} ms — median {target_median:.2f} ms, {'met' if met else 'MISSED'}"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
