"""Every `/mida` form of DESIGN.md, the bad ones, and a fuzz: a Command or a UsageError, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import Action
from bot.listeners.commands.parser import USAGE, Command, UsageError, parse
from bot.mida.models import ReportPhase


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Command("help")),
        ("help", Command("help")),
        ("HELP", Command("help")),
        ("frobnicate", Command("help", unknown="frobnicate")),
        ("connect", Command("connect")),
        ("disconnect", Command("disconnect")),
        ("status", Command("status")),
        ("list", Command("list")),
        ("settings", Command("settings")),
        ("results 1234", Command("results", test_id=1234)),
        ("results #1234 pre", Command("results", test_id=1234, phase=ReportPhase.PRE_DEPLOY)),
        ("results 1234 post", Command("results", test_id=1234, phase=ReportPhase.POST_DEPLOY)),
        ("results 1234 all", Command("results", test_id=1234, phase=ReportPhase.ALL_TIME)),
        ("serve-winner 1234", Command("serve-winner", test_id=1234)),
        ("serve-winner #1234 1", Command("serve-winner", test_id=1234, variant_id="1")),
        ("serve-winner 1234 1 25%", Command("serve-winner", test_id=1234, variant_id="1", rollout=25.0)),
        ("serve-winner 1234 1 25", Command("serve-winner", test_id=1234, variant_id="1", rollout=25.0)),
        ("serve-winner 1234 25%", Command("serve-winner", test_id=1234, rollout=25.0)),
        ("serve 1234 2", Command("serve-winner", test_id=1234, variant_id="2")),
        ("winner 1234", Command("serve-winner", test_id=1234)),
        ("rollout 1234 50", Command("rollout", test_id=1234, rollout=50.0)),
        ("rollout #1234 12.5%", Command("rollout", test_id=1234, rollout=12.5)),
        ("rollout 1234 0", Command("rollout", test_id=1234, rollout=0.0)),
        ("stop-serving 1234", Command("stop-serving", test_id=1234)),
        ("stop #1234", Command("stop-serving", test_id=1234)),
        ("audit", Command("audit")),
        ("audit #1234", Command("audit", test_id=1234)),
        ("audit export", Command("audit", export=True)),
        ("  serve-winner   1234   1  ", Command("serve-winner", test_id=1234, variant_id="1")),
    ],
)
def test_every_documented_form(text, expected):
    assert parse(text) == expected


def test_actions_of_change_commands():
    assert parse("serve 1").action is Action.SERVE_WINNER
    assert parse("rollout 1 5").action is Action.UPDATE_ROLLOUT
    assert parse("stop 1").action is Action.STOP_SERVING
    assert parse("list").action is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("serve-winner", "test id"),
        ("serve-winner abc", "not a test id"),
        ("serve-winner #", "not a test id"),
        ("serve-winner 0", "not a test id"),
        ("serve-winner -5", "not a test id"),
        ("serve-winner 1234 1 250%", "percentage"),
        ("serve-winner 1234 1 25% extra", "Too many"),
        ("serve-winner 1234 <script>", "variant id"),
        ("rollout 1234", "rollout percentage"),
        ("rollout 1234 -1", "percentage"),
        ("rollout 1234 101", "percentage"),
        ("rollout 1234 1e3", "percentage"),
        ("rollout 1234 NaN", "percentage"),
        ("rollout 1234 50 60", "rollout percentage"),
        ("stop-serving", "test id"),
        ("stop-serving 1234 now", "only the test id"),
        ("results", "test id"),
        ("results 1234 sideways", "report phase"),
        ("status now", "no arguments"),
        ("audit 1 2", "one test id"),
        ("results １２３", "not a test id"),
    ],
)
def test_bad_arguments_say_what_was_wrong_and_show_the_form(text, problem):
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert problem in caught.value.problem
    assert caught.value.usage in USAGE.values()


def test_a_long_bad_word_is_clipped_in_the_message():
    with pytest.raises(UsageError) as caught:
        parse("results " + "x" * 5000)
    assert len(caught.value.problem) < 200


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_gets_usage(text):
    try:
        command = parse(text)
    except UsageError as err:
        assert err.problem and err.usage
        return
    assert command.name in USAGE


words = st.sampled_from(
    ["serve-winner", "serve", "winner", "rollout", "stop", "stop-serving", "results", "audit", "export",
     "#12", "12", "0", "-1", "25%", "100", "101", "1e3", "NaN", "inf", "pre", "post", "all", "1", "２", "%", "#", ""]
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(words | st.text(max_size=12), max_size=6))
def test_command_like_inputs_parse_or_get_usage(parts):
    try:
        command = parse(" ".join(parts))
    except UsageError:
        return
    if command.rollout is not None:
        assert 0 <= command.rollout <= 100
    if command.test_id is not None:
        assert command.test_id > 0


def test_ramp_steps_and_interval():
    c = parse("ramp 1234 1 10,25,50")
    assert (c.name, c.test_id, c.variant_id, c.steps, c.interval_seconds) == ("ramp", 1234, "1", (10, 25, 50), 86400)
    assert parse("ramp #1234 1 10,25%,100 every 6h").interval_seconds == 6 * 3600
    assert parse("ramp 1234 1 1,2 every 2s").interval_seconds == 2
    assert parse("ramp 1234 1 1,2 EVERY 3D").interval_seconds == 3 * 86400
    assert parse("ramps").name == "ramps"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ramp 1234 1 50,25", "must go up"),
        ("ramp 1234 1 25,25", "must go up"),
        ("ramp 1234 1 0,50", "from 1 to 100"),
        ("ramp 1234 1 10,150", "not a percentage"),
        ("ramp 1234 1 10", "2 to 10 steps"),
        ("ramp 1234 1 " + ",".join(str(i) for i in range(1, 12)), "2 to 10 steps"),
        ("ramp 1234 1 10,20 every", "variant id, the rollout steps"),
        ("ramp 1234 1 10,20 every 1w", "not an interval"),
        ("ramp 1234 1 10,20 each 1d", "not an interval"),
        ("ramp 1234 10,20", "variant id, the rollout steps"),
        ("ramp 1234 1 10,,20", "not a percentage"),
        ("ramps 1234", "takes no arguments"),
    ],
)
def test_bad_ramps_say_what_is_wrong_and_the_right_form(text, problem):
    with pytest.raises(UsageError) as err:
        parse(text)
    assert problem in err.value.problem
    assert err.value.usage.startswith("/mida ramp")
