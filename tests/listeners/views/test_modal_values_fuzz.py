"""Modal values fuzzed (hypothesis): whatever a person types into the confirm, settings and connect
modals — empty, whitespace, unicode, 10 kB strings, -1, 101, 1e3, NaN, inf… — the submission ends in
either a valid result or an `InvalidInput` naming a field of that very modal, shown on it; never
another exception.

Each example drives the real listener (`handle_*_submission`) with the modal the bot builds, its
state filled with generated values, on the real services and stores over the test Redis. Slack is
the local stand-in (an admin there, so settings and connect are allowed); Mida is the sandbox.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from slack_bolt.context.async_context import AsyncBoltContext

from bot.config import Settings
from bot.deps import Deps, build_deps
from bot.domain import Action, ApprovalMode, ChannelRules, Draft, Person, Region, TeamRef, Workspace
from bot.listeners.views.submissions import (
    handle_change_submission,
    handle_connect_submission,
    handle_settings_submission,
)
from bot.services.errors import InvalidInput
from bot.slack.clients import web_client
from bot.store.keys import new_id
from bot.views import ids, modals
from standins.bot_server import BOT_TOKEN, bot_env
from standins.sandbox import API_KEY, PROJECT_KEY, SandboxServer
from standins.slack_api import SlackStandIn

TEAM = TeamRef(team_id="T0FUZZ")
ADMIN = Person(user_id="U_FUZZ_ADMIN", team_id="T0FUZZ")
CHANNEL = "C0FUZZ"

TEN_KB = "x" * 10_240
SPECIAL = [
    "", " ", "   ", "\t\n ", "\u00a0", "\u200b", "0", "1", "5", "6", "-1", "-0", "100", "101", "25", "25%",
    " 25 % ", "25 %%", "12.5", "12,5", "0.0000001", "99.99999999999", "100.0000000001", "1e3", "1E3", "1e-3",
    "NaN", "nan", "inf", "-inf", "Infinity", "+5", "0x10", "1_0", "²", "٢٥", "１２", "½", "..", ".", "%",
    "9" * 13, "9" * 400, "9" * 5000, "é" * 10, "😀", "\x00", "null", "None", "true", "[]", "{}",
    "<script>alert(1)</script>", "*bold* `code` <@U123>", "S0123ABCD", "s0123abcd", "U0123", "C0FUZZ",
    "24", "720", "721", "0.5", "365", "366", "10000000", "10000001", TEN_KB, "é" * 10_240,
]
TEXT = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(max_size=40),
    st.text(alphabet="0123456789.%-+eE ,_", max_size=14),
    st.none(),
)


def form(valid: dict[str, list[Any]], junk: dict[str, st.SearchStrategy] | None = None) -> st.SearchStrategy:
    """A filled-in modal: each field a valid value, except up to two fields (chosen by hypothesis)
    that get junk — so every field is fuzzed, not only the first one the service checks."""
    junk = junk or {}
    fields = sorted(valid)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        spoiled = draw(st.lists(st.sampled_from(fields), max_size=2, unique=True))
        return {
            field: draw(junk.get(field, TEXT)) if field in spoiled else draw(st.sampled_from(valid[field]))
            for field in fields
        }

    return build()


IDS = st.lists(st.one_of(st.sampled_from(["U_FUZZ_ADMIN", "U1", "", "W0123", "U" + "9" * 300]), st.text(max_size=12)),
               max_size=6)

EXAMPLES = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- the world


class World:
    """The bot's Deps on the test Redis, run on one event loop for the whole module."""

    def __init__(self, deps: Deps, runner: asyncio.Runner, settings: Settings) -> None:
        self.deps = deps
        self.runner = runner
        self.client = web_client(settings, BOT_TOKEN)
        self.drafts: dict[Action, Draft] = {}

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.runner.run(coro)


@pytest.fixture(scope="module")
def world(redis_url: str) -> Iterator[World]:
    slack = SlackStandIn().start()
    sandbox = SandboxServer().start()
    slack.set_user(ADMIN.user_id, team_id=TEAM.team_id, is_admin=True, name="admin")
    env = bot_env(redis_url=redis_url, slack_api_url=slack.api_url, mida_api_url=sandbox.api_url)
    app_settings = Settings(_env_file=None, **env)  # type: ignore[call-arg]
    runner = asyncio.Runner()
    try:
        deps = runner.run(_build(app_settings))
        world = World(deps, runner, app_settings)
        runner.run(_prepare(world))
        yield world
        runner.run(deps.redis.flushdb())
        runner.run(deps.aclose())
    finally:
        runner.close()
        sandbox.stop()
        slack.stop()


async def _build(app_settings: Settings) -> Deps:
    deps = build_deps(app_settings)
    await deps.redis.flushdb()
    return deps


async def _prepare(world: World) -> None:
    """Connect the workspace, and prepare one confirm modal per action (evidence read from Mida)."""
    deps = world.deps
    await deps.workspaces.save(Workspace(team=TEAM, project_key=PROJECT_KEY, region=Region("us"), api_key=API_KEY,
                                         connected_by=ADMIN, connected_at=time.time()))
    await deps.rules.save(TEAM, None, ChannelRules(), [])
    for action, test_id in ((Action.SERVE_WINNER, 1234), (Action.UPDATE_ROLLOUT, 1237), (Action.STOP_SERVING, 1237)):
        draft = Draft(id=new_id(), team=TEAM, requester=ADMIN, channel_id=CHANNEL, action=action, test_id=test_id)
        await deps.drafts.put(draft)
        prepared, _ = await deps.drafting.prepare(TEAM, draft.id, "V0FUZZ")
        world.drafts[action] = prepared


# ----------------------------------------------------------------------------- driving a listener


def input_blocks(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}


def state_of(view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """view.state.values as Slack would send it, with `values[block_id]` in each input."""
    state: dict[str, Any] = {}
    for block_id, element in input_blocks(view).items():
        value = values.get(block_id)
        kind = element["type"]
        if kind in ("plain_text_input", "number_input"):
            entry: dict[str, Any] = {"type": kind, "value": value}
        elif kind in ("static_select", "radio_buttons"):
            entry = {"type": kind, "selected_option": None if value is None else
                     {"text": {"type": "plain_text", "text": str(value)[:75]}, "value": value}}
        elif kind == "multi_users_select":
            entry = {"type": kind, "selected_users": value or []}
        elif kind in ("conversations_select", "channels_select"):
            entry = {"type": kind, "selected_conversation": value}
        elif kind == "checkboxes":
            entry = {"type": kind, "selected_options": [
                {"text": {"type": "plain_text", "text": str(v)[:75]}, "value": v} for v in value or []]}
        else:
            raise AssertionError(f"no fuzz rule for a {kind} in block {block_id}")
        state[block_id] = {element["action_id"]: entry}
    return state


def options_of(view: dict[str, Any], block_id: str) -> list[str]:
    element = input_blocks(view)[block_id]
    return [o["value"] for o in element.get("options", [])]


class Acks:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, *args: Any, **kwargs: Any) -> None:
        assert not args or args == (None,), args
        self.calls.append(kwargs)


class Spy:
    """Wraps a service method: remembers the InvalidInput it raised (the listener turns it into a
    field error, mapping an unknown field to a default block, so the test looks at the source)."""

    def __init__(self, target: Any, name: str) -> None:
        self.errors: list[InvalidInput] = []
        self._target, self._name = target, name
        self._original = getattr(target, name)

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await self._original(*args, **kwargs)
        except InvalidInput as err:
            self.errors.append(err)
            raise

    def __enter__(self) -> Spy:
        setattr(self._target, self._name, self)
        return self

    def __exit__(self, *exc: object) -> None:
        delattr(self._target, self._name)  # back to the class's method


def submit(world: World, handler: Any, view: dict[str, Any], values: dict[str, Any], spy: Spy,
           **kwargs: Any) -> tuple[Acks, InvalidInput | None]:
    """Run the listener on a submission of `view` filled with `values`; one answer, and the
    InvalidInput behind it if there was one (checked to name a field of this modal)."""
    body = {
        "type": "view_submission",
        "team": {"id": TEAM.team_id},
        "user": {"id": ADMIN.user_id, "team_id": TEAM.team_id},
        "view": {**view, "id": "V0FUZZ", "state": {"values": state_of(view, values)}},
    }
    acks = Acks()
    with spy:
        world.run(handler(ack=acks, body=body, context=AsyncBoltContext(), deps=world.deps, **kwargs))
    assert len(acks.calls) == 1, acks.calls
    answer = acks.calls[0]
    error = spy.errors[-1] if spy.errors else None
    event(f"invalid: {error.field}" if error is not None else "valid")
    if error is None:
        assert answer.get("response_action") != "errors", answer
        return acks, None
    fields = set(input_blocks(view))
    assert error.field in fields, f"InvalidInput names {error.field!r}, not a field of this modal: {sorted(fields)}"
    assert answer == {"response_action": "errors", "errors": {error.field: error.message}}
    assert error.message.strip() and len(error.message) < 500
    return acks, error


# ----------------------------------------------------------------------------- the confirm modal


@EXAMPLES
@given(
    action=st.sampled_from([Action.SERVE_WINNER, Action.UPDATE_ROLLOUT, Action.STOP_SERVING]),
    values=form(
        {ids.VARIANT: ["1", "0", " 1 "], ids.ROLLOUT: ["25", "0", "100", "12.5", " 40 % "],
         ids.REASON: ["", "Clear winner", "x" * 2000]},
        {ids.VARIANT: st.one_of(st.sampled_from(["2", "01", "1.0", "-1", None]), TEXT),
         ids.REASON: st.one_of(st.sampled_from(["x" * 2001, TEN_KB]), TEXT)},
    ),
)
def test_confirm_modal_values(world, action, values):
    template = world.drafts[action]
    draft = template.model_copy(update={"id": new_id()})
    world.run(world.deps.drafts.put(draft))
    view = {**modals.change_modal(draft, []), "private_metadata": draft.id}
    _, error = submit(world, handle_change_submission, view, values, Spy(world.deps.drafting, "submit"))
    request = world.run(world.deps.requests.get(TEAM, draft.id))
    if error is not None:
        assert request is None  # nothing recorded
        return
    assert request is not None and request.change.action is action
    assert len(request.reason) <= 2000
    if action is Action.STOP_SERVING:
        assert request.change.rollout is None
    else:
        assert request.change.rollout is not None and math.isfinite(request.change.rollout)
        assert 0 <= request.change.rollout <= 100
    if action is Action.SERVE_WINNER:
        assert request.change.variant_id in {v.variant_id for v in draft.evidence.variants}


# ----------------------------------------------------------------------------- the settings modal


@EXAMPLES
@given(
    values=form(
        {ids.POLICY_CHANNEL: [ids.POLICY_SCOPE_WORKSPACE, ids.POLICY_SCOPE_CHANNEL],
         ids.POLICY_MODE: [m.value for m in ApprovalMode],
         ids.APPROVERS: [[], ["U_FUZZ_ADMIN"], ["U1", "U2"]],
         ids.APPROVER_GROUP: [None, "", "S0123ABCD"],
         ids.APPROVALS_NEEDED: ["1", "2", "5"],
         ids.EXPIRY_HOURS: ["24", "1", "720", "0.5"],
         ids.MIN_DAYS_RUNNING: [None, "", "0", "7"],
         ids.MIN_VISITORS: [None, "", "0", "1000"],
         ids.MIN_CONVERSIONS: [None, "", "0", "25"],
         ids.RISKY_LOSS: [None, "", "5", "0.5 %"],
         ids.FOLLOWUP_HOURS: [None, "", "24"],
         ids.AUDIT_CHANNEL: [None, "C0AUDIT"],
         ids.BOT_ADMINS: [[], ["U1"]],
         ids.GUESTS_MAY_APPROVE: [[], [ids.GUESTS_ALLOWED]]},
        {ids.APPROVERS: IDS, ids.BOT_ADMINS: IDS, ids.GUESTS_MAY_APPROVE: IDS},
    ),
)
def test_settings_modal_values(world, values):
    view = {**modals.settings_modal(ChannelRules(), [], CHANNEL), "private_metadata": CHANNEL}
    modes = options_of(view, ids.POLICY_MODE)
    scope = values[ids.POLICY_CHANNEL]
    before = world.run(world.deps.rules.settings(TEAM))
    _, error = submit(world, handle_settings_submission, view, values, Spy(world.deps.settings_service, "save"))
    after = world.run(world.deps.rules.rules(TEAM, CHANNEL if scope == ids.POLICY_SCOPE_CHANNEL else None))
    if error is not None:
        assert world.run(world.deps.rules.settings(TEAM)) == before  # nothing stored
        return
    assert after.mode.value in modes
    assert 1 <= after.approvals_needed <= 5
    assert math.isfinite(after.expiry_hours) and 0 < after.expiry_hours <= 720
    assert 0 <= after.min_days_running <= 365 and after.min_visitors_per_variant >= 0
    assert after.guests_may_approve is (ids.GUESTS_ALLOWED in (values[ids.GUESTS_MAY_APPROVE] or []))
    world.run(world.deps.rules.save(TEAM, None, ChannelRules(), []))  # the next example starts from the defaults


# ----------------------------------------------------------------------------- the connect modal


@EXAMPLES
@given(
    values=form(
        {ids.PROJECT_KEY: [PROJECT_KEY, " " + PROJECT_KEY + " "], ids.API_KEY: [API_KEY, API_KEY + " "],
         ids.REGION: ["us"]},
        {ids.PROJECT_KEY: st.one_of(st.sampled_from(["sandbox-eu", "nope"]), TEXT),
         ids.API_KEY: st.one_of(st.sampled_from(["mida_sk_" + "0" * 20, API_KEY[:-1]]), TEXT),
         ids.REGION: st.one_of(st.sampled_from(["eu", "US", "mars"]), TEXT)},
    ),
)
def test_connect_modal_values(world, values):
    view = modals.connect_modal()
    _, error = submit(world, handle_connect_submission, view, values, Spy(world.deps.connect, "connect"),
                      client=world.client)
    stored = world.run(world.deps.workspaces.get(TEAM))
    if error is None:
        # Only the pair Mida accepts is saved.
        assert stored is not None and stored.project_key == PROJECT_KEY and stored.api_key == API_KEY
        assert stored.region.value == "us"
    assert stored is not None  # the earlier connection stays when the new pair is refused
