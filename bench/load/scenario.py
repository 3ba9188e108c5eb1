"""What the bench sends and what counts as a right answer: the workspace set up through the real
flow, the three kinds of request (a command, an Approve click, a refused submission), their bodies
and the check of each ack."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from bot.views import ids
from standins.bot_server import SIGNING_SECRET
from standins.people import ALICE, CHANNEL, TEAM
from standins.slack_requests import block_actions, plain, select, slash_command, view_submission

KINDS = ("command", "click", "submit")
REQUESTER = ALICE
APPROVERS = [f"U_BENCH{i:03d}" for i in range(50)]
APPROVALS_NEEDED = 3
COMMAND_TEXT = "results 1234"
BAD_ROLLOUT = "150"
LAZY_STREAM = "mida:lazy"  # bot.slack.lazy_queue
JOBS_STREAM = "mida:jobs"  # bot.store.jobs


@dataclass
class Tracked:
    """A command or click sent to the bot, whose work after the ack is checked."""

    kind: str
    name: str  # its own response_url at the stand-in: .../response/<name>
    phase: str
    card: str | None = None
    user: str | None = None
    acked_at: float | None = None  # wall clock when its ack was read; None: no good ack


class Bodies:
    """Fresh request bodies (unique trigger ids, so no two signatures are alike, and a response_url
    of their own)."""

    def __init__(self, setup: dict[str, Any], response_base: str, prefix: str, seed: int = 1) -> None:
        self.cards = setup["cards"]
        self.view = setup["view"]
        self.response_base = response_base
        self.prefix = prefix
        self.phase = "warmup"
        self.rng = random.Random(seed)
        self.n = 0
        self.clicks = 0
        self.walk = 0
        self.history: list[tuple[dict[str, str], str]] = []
        self.values = {
            ids.VARIANT: {ids.VARIANT_SELECT: select("1")},
            ids.ROLLOUT: plain(BAD_ROLLOUT),
            ids.REASON: plain(""),
        }

    def _click(self) -> tuple[dict[str, str], str]:
        """Card k % P by person k // P: recorded, recorded, approved (quorum) for each card in turn,
        then refused as finished; every 4th click repeats an earlier one (a duplicate, or finished)."""
        self.clicks += 1
        if self.clicks % 4 == 0 and self.history:
            return self.rng.choice(self.history)
        j, self.walk = self.walk, self.walk + 1
        pick = (self.cards[j % len(self.cards)], APPROVERS[(j // len(self.cards)) % len(APPROVERS)])
        self.history.append(pick)
        return pick

    def make(self, kind: str) -> tuple[bytes, str, Tracked | None]:
        self.n += 1
        name = f"{self.prefix}{kind}-{self.n}"
        url = self.response_base + name
        if kind == "command":
            user = self.rng.choice(APPROVERS)
            body, ctype = slash_command(COMMAND_TEXT, user_id=user, channel_id=CHANNEL, response_url=url)
            return body, ctype, Tracked(kind, name, self.phase, user=user)
        if kind == "click":
            card, user = self._click()
            body, ctype = block_actions(ids.APPROVE, card["request_id"], user_id=user, channel_id=CHANNEL,
                                        message_ts=card["ts"] or None, response_url=url)
            return body, ctype, Tracked(kind, name, self.phase, card=card["request_id"], user=user)
        body, ctype = view_submission(ids.CHANGE_MODAL, self.values, user_id=REQUESTER, view=self.view)
        return body, ctype, None


def check_answer(kind: str, strict: bool, status: int, body: bytes) -> str | None:
    """None when the answer is right; else what is wrong with it."""
    if status != 200:
        return f"HTTP {status}"
    if not strict:
        return None
    if kind == "submit":
        try:
            answer = json.loads(body)
        except ValueError:
            return "submit: not JSON"
        if answer.get("response_action") != "errors" or ids.ROLLOUT not in answer.get("errors", {}):
            return "submit: no rollout error"
        return None
    if body.strip():
        return f"{kind}: unexpected body"
    return None


def setup(slack_api: Any, *, bot_url: str, redis_url: str, pending: int) -> dict[str, Any]:
    """Connect the workspace, set the policy, open `pending` requests and one confirm modal."""
    from bot.domain import ChannelRules, TeamRef
    from bot.store.rules import RulesStore
    from standins.flows import connect, submit_change
    from standins.people import introduce
    from standins.slack_requests import BotClient

    def open_change_modal(slack: BotClient, slack_api: Any, text: str, *, user: str) -> dict[str, Any]:
        opened, updated = len(slack_api.calls("views.open")), len(slack_api.calls("views.update"))
        answer = slack.command(text, user_id=user, channel_id=CHANNEL)
        if answer.status_code != 200:
            raise RuntimeError(f"/mida {text}: HTTP {answer.status_code}")
        view = slack_api.wait_for("views.open", count=opened + 1, timeout=10)[-1]["view"]
        if view.get("callback_id") != ids.CHANGE_MODAL:
            raise RuntimeError(f"/mida {text} opened {view.get('callback_id')!r}")
        call = slack_api.wait_for("views.update", count=updated + 1, timeout=10)[-1]
        return slack_api.view(call["view_id"])

    introduce(slack_api)
    for user in APPROVERS:
        slack_api.set_user(user, team_id=TEAM, name=user.lower())

    async def save_policy() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            await RulesStore(client).save(
                TeamRef(team_id=TEAM), None, ChannelRules(approvals_needed=APPROVALS_NEEDED), []
            )
        finally:
            await client.aclose()

    asyncio.run(save_policy())
    slack = BotClient(bot_url, SIGNING_SECRET, response_url=slack_api.response_url("setup"))
    connected = connect(slack, slack_api)
    if connected.status_code != 200 or "errors" in connected.text:
        raise RuntimeError(f"connect failed: {connected.status_code} {connected.text}")

    cards: list[dict[str, str]] = []
    for n in range(pending):
        posted = len([c for c in slack_api.calls("chat.postMessage") if c.get("channel") == CHANNEL])
        view = open_change_modal(slack, slack_api, "serve-winner 1234 1 25", user=REQUESTER)
        answer = submit_change(slack, view, user=REQUESTER, variant="1", rollout="25", reason=f"bench request {n}")
        if answer.status_code != 200 or "errors" in answer.text:
            raise RuntimeError(f"submitting request {n} failed: {answer.status_code} {answer.text}")
        post = slack_api.wait_for("chat.postMessage", count=posted + 1,
                                  predicate=lambda c: c.get("channel") == CHANNEL, timeout=10)[-1]
        buttons = next(b for b in post["blocks"] if b.get("block_id") == ids.REQUEST_ACTIONS)
        request_id = next(e["value"] for e in buttons["elements"] if e["action_id"] == ids.APPROVE)
        cards.append({"request_id": request_id, "ts": str(post.response.get("ts") or "")})

    view = open_change_modal(slack, slack_api, "serve-winner 1234 1 25", user=REQUESTER)
    return {"cards": cards, "view": view}
