"""bot/evidence/words.py: the figures in the issue's own wording."""

from __future__ import annotations

import ast
import pathlib
import sys

import pytest

from bot.evidence import words


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.9716862, "97.2 %"),
        (0.9995, "> 99.9 %"),
        (0.999, "99.9 %"),
        (0.0004, "< 0.1 %"),
        (0.001, "0.1 %"),
        (0.5, "50.0 %"),
    ],
)
def test_chance(p, text):
    assert words.fmt_chance(p) == text


def test_chance_to_beat_words():
    assert words.chance_to_beat_words(0.9716862, "Control") == "97.2 % chance to beat Control"


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.0563776, "p = 0.0564"),
        (0.00123, "p = 0.00123"),
        (0.000999, "p < 0.001"),
        (0.5, "p = 0.500"),
        (1.0, "p = 1.00"),
        (None, "no p-value yet"),
    ],
)
def test_p_three_significant_digits(p, text):
    assert words.fmt_p(p) == text


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.78, "78 % chance to be best"), (0.9951, "> 99 % chance to be best"), (0.004, "< 1 % chance to be best")],
)
def test_prob_best(p, text):
    assert words.fmt_prob_best(p) == text


@pytest.mark.parametrize(
    ("p", "text"), [(0.0703, "Holm-adjusted 0.070"), (0.0004, "Holm-adjusted < 0.001"), (1.0, "Holm-adjusted 1.0")]
)
def test_holm(p, text):
    assert words.fmt_holm(p) == text


def test_intervals_and_lifts():
    assert words.fmt_interval((-0.00697, 0.57095), 95, bayesian=True) == "95 % credible interval −1 % to +57 %"
    assert words.fmt_interval((-0.03726, 0.53726), 95, bayesian=False) == "95 % CI −4 % to +54 %"
    assert words.fmt_interval((-0.0062, 0.0178), 99, bayesian=False) == "99 % CI −0.6 % to +1.8 %"
    assert words.fmt_signed_percent(0.25) == "+25 %"
    assert words.fmt_signed_percent(-0.004) == "0 %"
    assert words.fmt_risk(0.0012155) == "risk 0.12 %"
    assert words.fmt_level(97.5) == "97.5 %"


def test_footnote_names_the_method():
    assert words.footnote("bayesian") == (
        "Computed by the bot from Mida's counts: Bayesian, Beta(1,1) prior, exact chance to beat; "
        "Mida's dashboard may differ."
    )
    assert words.footnote("frequentist") == (
        "Computed by the bot from Mida's counts: fixed-horizon two-proportion z test; "
        "Mida's dashboard may use sequential testing and differ."
    )


ALLOWED = {
    "__future__",
    "math",
    "statistics",
    "dataclasses",
    "decimal",
    "functools",
    "itertools",
    "operator",
    "collections",
    "typing",
}


@pytest.mark.parametrize(
    "path", sorted((pathlib.Path(__file__).parents[2] / "bot" / "evidence").glob("*.py")), ids=lambda p: p.name
)
def test_the_evidence_package_is_the_bottom_layer(path):
    """Standard library and bot.evidence only: nothing else of the bot, no numpy/scipy at run time."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert name.startswith("bot.evidence") or (top in ALLOWED and top in sys.stdlib_module_names), name
