"""Many workspaces over real HTTP (OAuth mode): two workspaces installed through Slack's OAuth
flow, each connected to its own Mida project in its own region, stay apart in everything; an
uninstall forgets one and leaves the other; a reinstall starts clean; Enterprise Grid org-wide
installs serve every workspace of the org."""

from __future__ import annotations

import base64
import html
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bot.store.followups import FollowupStore
from bot.store.keys import DUE_SCHEDULE
from bot.store.schedule import FOLLOWUP, Schedule
from bot.views import ids
from standins.bot_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    PUBLIC_URL,
    SIGNING_SECRET,
    BotProcess,
    InProcessBot,
    bot_env,
)
from standins.sandbox import API_KEY, EU_API_KEY, EU_PROJECT_KEY, PROJECT_KEY
from standins.slack_api import SlackStandIn
from standins.slack_requests import BotClient, plain, select
from standins.waiting import wait_until
from tests.e2e.helpers import serve_writes

# slack_sdk sends oauth.v2.access with aiohttp's BasicAuth, which aiohttp now deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")

COOKIE = "slack-app-oauth-state"
SCOPES = "commands,chat:write,users:read,usergroups:read"
NAMES = {1234: "Homepage CTA Button Color Test", 2001: "EU Homepage Hero Image"}


@dataclass
class Space:
    """One Slack workspace talking to the bot, and the Mida project it is connected to."""

    team: str
    token: str
    channel: str
    project_key: str
    api_key: str
    region: str
    slack: BotClient
    enterprise: str | None = None

    @property
    def admin(self) -> str:
        return f"U_ADMIN_{self.team}"

    @property
    def alice(self) -> str:
        return f"U_ALICE_{self.team}"

    @property
    def bob(self) -> str:
        return f"U_BOB_{self.team}"

    @property
    def key(self) -> str:
        return f"{self.enterprise}:{self.team}" if self.enterprise else self.team

    @property
    def mida_path(self) -> str:
        return f"/{self.region}/v2/project/{self.project_key}/"

    def _kw(self, user: str | None, **kw: Any) -> dict[str, Any]:
        kw.setdefault("user_id", user or self.alice)
        kw.setdefault("team_id", self.team)
        if self.enterprise:
            kw.setdefault("enterprise_id", self.enterprise)
        return kw

    def command(self, text: str, user: str | None = None, **kw: Any) -> httpx.Response:
        return self.slack.command(text, **self._kw(user, channel_id=self.channel, **kw))

    def action(self, action_id: str, value: str, user: str | None = None, **kw: Any) -> httpx.Response:
        return self.slack.action(action_id, value, **self._kw(user, channel_id=self.channel, **kw))

    def submit(self, callback_id: str, values: dict, user: str | None = None, **kw: Any) -> httpx.Response:
        return self.slack.submit(callback_id, values, **self._kw(user, **kw))


@pytest.fixture
def oauth_bot(clean_redis, redis_url, slack_api, mida_sandbox):
    server = InProcessBot(
        bot_env(redis_url=redis_url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url, oauth=True)
    ).start()
    yield server
    server.stop()


def scheduled_followups(redis) -> list[str]:
    """The follow-ups in the shared schedule, as their payloads ("<T>|<request>|<test>|<hours>")."""
    prefix = f"{FOLLOWUP}|".encode()
    return [m[len(prefix):].decode() for m in redis.zrange(DUE_SCHEDULE, 0, -1) if m.startswith(prefix)]


def space(bot: InProcessBot, slack_api: SlackStandIn, team: str, token: str, *, eu: bool = False,
          enterprise: str | None = None) -> Space:
    s = Space(
        team=team,
        token=token,
        channel=f"C_{team}",
        project_key=EU_PROJECT_KEY if eu else PROJECT_KEY,
        api_key=EU_API_KEY if eu else API_KEY,
        region="eu" if eu else "us",
        slack=BotClient(bot.url, SIGNING_SECRET, response_url=slack_api.response_url(team), team_id=team),
        enterprise=enterprise,
    )
    slack_api.set_user(s.admin, team_id=team, is_admin=True)
    slack_api.set_user(s.alice, team_id=team)
    slack_api.set_user(s.bob, team_id=team)
    return s


def install(bot: InProcessBot, slack_api: SlackStandIn, *, code: str, token: str, team: str | None,
            enterprise: str | None = None, org_wide: bool = False, installer: str = "U_INSTALLER") -> httpx.Response:
    """The installer's browser: /slack/install → (Slack's consent screen) → /slack/oauth_redirect."""
    slack_api.set_token(token, team or "", enterprise_id=enterprise, user_id=f"UBOT_{code}", bot_id=f"B_{code}")
    slack_api.set_oauth(code, {
        "access_token": token,
        "token_type": "bot",
        "scope": SCOPES,
        "bot_user_id": f"UBOT_{code}",
        "app_id": "A0MIDA",
        "team": {"id": team, "name": f"Team {team}"} if team else None,
        "enterprise": {"id": enterprise, "name": "Grid Org"} if enterprise else None,
        "is_enterprise_install": org_wide,
        "authed_user": {"id": installer},
    })
    with httpx.Client(base_url=bot.url, timeout=10) as browser:
        start = browser.get("/slack/install")
        assert start.status_code == 200
        state = re.search(COOKIE + r"=([^;]+)", start.headers["set-cookie"]).group(1)
        authorize = re.search(r'href="([^"]+)"', start.text).group(1)
        assert html.unescape(authorize).startswith("https://slack.com/oauth/v2/authorize?")  # Slack's own page
        assert f"state={state}" in html.unescape(authorize) and f"client_id={CLIENT_ID}" in html.unescape(authorize)
        # Slack sends the browser back with a code and the same state.
        return browser.get("/slack/oauth_redirect", params={"code": code, "state": state},
                           headers={"Cookie": f"{COOKIE}={state}"})


def connect(s: Space, slack_api: SlackStandIn) -> httpx.Response:
    opened = len(slack_api.calls("views.open"))
    assert s.command("connect", user=s.admin).status_code == 200
    view = slack_api.wait_for("views.open", count=opened + 1)[-1]
    assert view.token == s.token and view["view"]["callback_id"] == ids.CONNECT_MODAL
    return s.submit(
        ids.CONNECT_MODAL,
        {ids.PROJECT_KEY: plain(s.project_key), ids.API_KEY: plain(s.api_key), ids.REGION: select(s.region)},
        user=s.admin,
    )


def assert_mida_only(mida_sandbox, s: Space) -> None:
    """Every Mida request since the last clear went to this workspace's project, with its key."""
    seen = mida_sandbox.requests()
    assert seen, "no Mida request"
    for r in seen:
        assert r["path"].startswith(s.mida_path), r["path"]
        assert r["headers"]["authorization"] == f"Bearer {s.api_key}"


def assert_slack_only(slack_api, s: Space) -> None:
    """Every Slack Web API call since the last clear used this workspace's bot token."""
    calls = [c for c in slack_api.calls() if c.method not in ("oauth.v2.access", "auth.test")]
    assert calls, "no Slack call"
    for call in calls:
        assert call.token == s.token, (call.method, call.token)


def request_card(slack_api, s: Space) -> tuple[str, Any]:
    post = slack_api.wait_for(
        "chat.postMessage", predicate=lambda c: c["channel"] == s.channel and not c.get("thread_ts")
    )[-1]
    assert post.token == s.token
    buttons = next(b for b in post["blocks"] if b.get("block_id") == ids.REQUEST_ACTIONS)
    return buttons["elements"][0]["value"], post


def ask_to_serve(s: Space, slack_api, test_id: int, variant: str) -> tuple[str, dict]:
    """/mida serve-winner in `s`, submitted: returns the request id on the card, and the modal."""
    updates = len(slack_api.calls("views.update"))
    assert s.command(f"serve-winner {test_id} {variant} 25").status_code == 200
    call = slack_api.wait_for("views.update", count=updates + 1)[-1]
    assert call.token == s.token
    view = slack_api.view(call["view_id"])
    assert view["callback_id"] == ids.CHANGE_MODAL
    answer = s.submit(ids.CHANGE_MODAL, {ids.REASON: plain("clear winner"), ids.ROLLOUT: plain("25"),
                                         ids.VARIANT: {ids.VARIANT_SELECT: select(variant)}}, view=view)
    assert "errors" not in answer.text
    return request_card(slack_api, s)[0], view


def results_link(text: str) -> str:
    return re.search(re.escape(PUBLIC_URL) + r"/results/([A-Za-z0-9_\-.]+)", text).group(1)


def keys(clean_redis, team_key: str) -> list[bytes]:
    return sorted(clean_redis.scan_iter(match=f"mida:{{{team_key}}}:*".encode()))


@pytest.fixture
def two(oauth_bot, slack_api, mida_sandbox, clean_redis):
    """Workspace one (us project) and two (eu project), both installed through OAuth and connected."""
    one = space(oauth_bot, slack_api, "T0001", "xoxb-T0001-oauth-one-aaaaaaaaaaaa")
    two = space(oauth_bot, slack_api, "T0002", "xoxb-T0002-oauth-two-bbbbbbbbbbbb", eu=True)
    for n, s in enumerate((one, two), start=1):
        done = install(oauth_bot, slack_api, code=f"code-{n}", token=s.token, team=s.team)
        assert done.status_code == 200 and "Mida is installed" in done.text and f"Team {s.team}" in done.text
        access = slack_api.last("oauth.v2.access")
        assert access.basic_auth == (CLIENT_ID, CLIENT_SECRET) and access["code"] == f"code-{n}"
    for s in (one, two):
        mida_sandbox.clear_requests()
        slack_api.clear()
        answer = connect(s, slack_api)
        assert answer.status_code == 200 and "errors" not in answer.text
        assert_mida_only(mida_sandbox, s)  # the live check of the key went to its own project
        dm = slack_api.wait_for("chat.postMessage", predicate=lambda c, s=s: c["channel"] == s.admin)[-1]
        assert dm.token == s.token
        assert_slack_only(slack_api, s)  # users.info (is the admin an admin?) included
    assert clean_redis.exists(b"mida:{T0001}:workspace") and clean_redis.exists(b"mida:{T0002}:workspace")
    mida_sandbox.clear_requests()
    slack_api.clear()
    return one, two


@pytest.mark.cluster
def test_the_install_flow_stores_each_workspace_encrypted(two, clean_redis):
    one, other = two
    for s in two:
        names = [k.decode() for k in keys(clean_redis, s.team)]
        assert f"mida:{{{s.team}}}:install:{CLIENT_ID}:bot-latest" in names
        assert f"mida:{{{s.team}}}:install:{CLIENT_ID}:installer-latest" in names
    dump = b"".join(clean_redis.get(k) or b"" for k in clean_redis.scan_iter(match=b"mida:*install*", _type="STRING"))
    assert one.token.encode() not in dump and other.token.encode() not in dump


def test_every_command_card_and_link_reaches_only_its_own_project(two, oauth_bot, slack_api, mida_sandbox):
    one, other = two
    # Commands
    for s, test_id in ((one, 1234), (other, 2001)):
        for text in ("list", f"results {test_id}", "status"):
            mida_sandbox.clear_requests()
            slack_api.clear()
            answers = len(slack_api.responses(s.team))
            assert s.command(text).status_code == 200
            reply = slack_api.wait_for_response(s.team, count=answers + 1)[-1]
            expected = NAMES[test_id] if text.startswith("results") else s.project_key
            assert expected in json.dumps(reply, ensure_ascii=False)
            if text != "status":
                assert_mida_only(mida_sandbox, s)
    # Cards: a request, approved, executed against its own project with its own key and token.
    finals = {}
    for s, test_id in ((one, 1234), (other, 2001)):
        mida_sandbox.clear_requests()
        slack_api.clear()
        request_id, _ = ask_to_serve(s, slack_api, test_id, "1")
        assert s.action(ids.APPROVE, request_id, user=s.bob).status_code == 200
        wait_until(lambda: len(serve_writes(mida_sandbox)) == 1, what="the serve write")
        done = slack_api.wait_for(
            "chat.update", predicate=lambda c, s=s: c["channel"] == s.channel and "/results/" in json.dumps(c.params)
        )[-1]
        assert serve_writes(mida_sandbox)[0]["path"] == f"{s.mida_path}experiment/{test_id}/serve-winner"
        # The card's last words: the thread reply and the requester's notice.
        slack_api.wait_for("chat.postMessage", predicate=lambda c, s=s: c["channel"] == s.channel and c.get("thread_ts"))
        slack_api.wait_for("chat.postEphemeral", predicate=lambda c, s=s: c["user"] == s.alice)
        assert_mida_only(mida_sandbox, s)
        assert_slack_only(slack_api, s)
        finals[s.team] = results_link(json.dumps(done.params))
    # Results links: each page reads its own project with its own key.
    for s in (one, other):
        mida_sandbox.clear_requests()
        page = httpx.get(f"{oauth_bot.url}/results/{finals[s.team]}", timeout=10)
        assert page.status_code == 200
        assert_mida_only(mida_sandbox, s)


def test_ids_buttons_and_links_from_one_workspace_are_refused_in_the_other(two, oauth_bot, slack_api, mida_sandbox):
    one, other = two
    request_id, view = ask_to_serve(one, slack_api, 1234, "1")
    mida_sandbox.clear_requests()
    slack_api.clear()

    # The request id of workspace one, on an Approve click in workspace two.
    other.action(ids.APPROVE, request_id, user=other.bob)
    refusal = slack_api.wait_for_response(other.team)[-1]
    assert "not known in this workspace" in refusal["text"]
    # Workspace one's modal (its draft id) submitted in workspace two.
    moved = {**view, "team_id": other.team, "app_installed_team_id": other.team}
    answer = other.submit(ids.CHANGE_MODAL, {ids.REASON: plain("x"), ids.ROLLOUT: plain("25"),
                                             ids.VARIANT: {ids.VARIANT_SELECT: select("1")}}, view=moved)
    assert answer.json()["response_action"] == "errors"
    # Workspace one's post-deploy button (experiment 1234) in workspace two: two's project has no 1234.
    other.action(ids.POST_DEPLOY_RESULTS, "1234")
    reply = slack_api.wait_for_response(other.team, count=2)[-1]
    assert "1234" in json.dumps(reply)
    assert_mida_only(mida_sandbox, other)
    time.sleep(0.3)
    assert mida_sandbox.writes() == []
    assert one.token not in {c.token for c in slack_api.calls()}

    # A results link of workspace one rewritten to name workspace two is refused.
    link = oauth_bot.run(_results_token(oauth_bot, one, 1234))
    body, _, signature = link.partition(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["t"] = other.team
    forged = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=").decode()
    assert httpx.get(f"{oauth_bot.url}/results/{forged}.{signature}", timeout=10).status_code == 403
    mida_sandbox.clear_requests()
    assert httpx.get(f"{oauth_bot.url}/results/{link}", timeout=10).status_code == 200
    assert_mida_only(mida_sandbox, one)

    # The request is still pending in workspace one, untouched.
    pending = oauth_bot.run(oauth_bot.deps.requests.get(_team(one), request_id))
    assert pending.status.value == "pending" and pending.approvals == []


async def _results_token(bot, s: Space, test_id: int) -> str:
    return bot.deps.links.token(_team(s), "results", test_id)


def _team(s: Space):
    from bot.domain import TeamRef

    return TeamRef(team_id=s.team, enterprise_id=s.enterprise)


@pytest.mark.cluster
def test_uninstalling_one_workspace_leaves_the_other_and_a_reinstall_starts_clean(
    two, oauth_bot, slack_api, mida_sandbox, clean_redis
):
    one, other = two
    pending_one, _ = ask_to_serve(one, slack_api, 1234, "1")
    pending_two, _ = ask_to_serve(other, slack_api, 2001, "1")
    # a follow-up scheduled in workspace one
    oauth_bot.run(FollowupStore(oauth_bot.deps.redis, Schedule(oauth_bot.deps.redis)).schedule(_team(one), pending_one, 1237, [1.0], time.time()))
    before_two = {k for k in keys(clean_redis, other.team) if b":card-lock" not in k and b":dedupe:" not in k}

    # Slack tells the bot it was uninstalled from workspace one (signed, as every event).
    assert one.slack.event({"type": "app_uninstalled"}, team_id=one.team).status_code == 200
    wait_until(lambda: not clean_redis.exists(b"mida:{T0001}:workspace"), what="workspace one forgotten")
    request_one = f"mida:{{T0001}}:req:{pending_one}".encode()
    wait_until(lambda: clean_redis.hget(request_one, b"status") == b"cancelled", what="request cancelled")
    wait_until(lambda: not scheduled_followups(clean_redis), what="the follow-up cancelled")

    names = [k.decode() for k in keys(clean_redis, one.team)]
    assert [n for n in names if ":install:" in n] == []
    assert [n for n in names if n.endswith(":workspace")] == []
    assert [n for n in names if ":followups" in n] == []
    audit = [json.loads(f[b"entry"]) for _, f in clean_redis.xrange(b"mida:{T0001}:audit")]
    assert any(e["event"] == "cancelled" and e["request_id"] == pending_one
               and e["detail"]["cause"] == "app_uninstalled" for e in audit)
    assert any(e["event"] == "disconnected" and e["detail"]["cause"] == "app_uninstalled" for e in audit)

    # Workspace two: untouched, and still working.
    assert set(keys(clean_redis, other.team)) >= before_two
    assert clean_redis.hget(f"mida:{{T0002}}:req:{pending_two}".encode(), b"status") == b"pending"
    mida_sandbox.clear_requests()
    slack_api.clear()
    other.command("list")
    slack_api.wait_for_response(other.team)
    assert other.action(ids.APPROVE, pending_two, user=other.bob).status_code == 200
    wait_until(lambda: len(serve_writes(mida_sandbox)) == 1, what="workspace two's change")
    slack_api.wait_for("chat.update", predicate=lambda c: c["channel"] == other.channel)
    assert_mida_only(mida_sandbox, other)
    assert_slack_only(slack_api, other)

    # Workspace one: the bot no longer answers with its data, and says how to reinstall.
    slack_api.clear()
    mida_sandbox.clear_requests()
    one.command("list")
    notice = slack_api.wait_for_response(one.team)[-1]
    assert "not installed" in json.dumps(notice) and "/slack/install" in json.dumps(notice)
    assert mida_sandbox.requests() == []
    assert [c for c in slack_api.calls() if c.token != other.token] == []  # (two's card may still be finishing)

    # A reinstall starts clean: a new token, not connected, nothing pending.
    one.token = "xoxb-T0001-oauth-again-cccccccccc"
    done = install(oauth_bot, slack_api, code="code-again", token=one.token, team=one.team)
    assert done.status_code == 200
    slack_api.clear()
    one.command("status")
    status = slack_api.wait_for_response(one.team)[-1]
    assert "/mida connect" in json.dumps(status) and PROJECT_KEY not in json.dumps(status)
    assert oauth_bot.run(oauth_bot.deps.requests.pending(_team(one))) == []
    assert connect(one, slack_api).status_code == 200  # the new token opens the modal
    assert_slack_only(slack_api, one)


@pytest.mark.cluster
def test_an_event_retry_runs_once(two, oauth_bot, slack_api, clean_redis):
    one, _ = two
    first = one.slack.event({"type": "app_uninstalled"}, team_id=one.team, event_id="Ev0RETRY")
    assert first.status_code == 200
    wait_until(lambda: not clean_redis.exists(b"mida:{T0001}:workspace"))
    install(oauth_bot, slack_api, code="code-back", token="xoxb-T0001-back-dddddddd", team=one.team)
    # Slack delivers the same event again (a new signature, X-Slack-Retry-Num): nothing happens.
    retry = one.slack.event({"type": "app_uninstalled"}, team_id=one.team, event_id="Ev0RETRY",
                            timestamp=int(time.time()) - 1, headers={"X-Slack-Retry-Num": "1"})
    assert retry.status_code == 200
    time.sleep(0.5)
    assert oauth_bot.run(oauth_bot.deps.installations.async_find_bot(enterprise_id=None, team_id=one.team))


def test_enterprise_grid_org_wide_install_serves_a_workspace_of_the_org(oauth_bot, slack_api, mida_sandbox, clean_redis):
    org_token = "xoxb-E0001-org-wide-eeeeeeeeeeee"
    done = install(oauth_bot, slack_api, code="code-org", token=org_token, team=None, enterprise="E0001", org_wide=True)
    assert done.status_code == 200 and "Grid Org" in done.text and "every workspace of the organisation" in done.text
    assert clean_redis.exists(f"mida:{{E0001}}:install:{CLIENT_ID}:bot-latest".encode())

    grid = space(oauth_bot, slack_api, "T0003", org_token, enterprise="E0001")
    slack_api.clear()
    mida_sandbox.clear_requests()
    assert connect(grid, slack_api).status_code == 200
    assert clean_redis.exists(b"mida:{E0001:T0003}:workspace")  # keyed by enterprise id + team id
    assert not clean_redis.exists(b"mida:{T0003}:workspace")
    grid.command("list")
    reply = slack_api.wait_for_response(grid.team)[-1]
    assert "Homepage CTA" in json.dumps(reply, ensure_ascii=False)
    assert_mida_only(mida_sandbox, grid)
    assert_slack_only(slack_api, grid)

    # A workspace of another org is not installed.
    stranger = space(oauth_bot, slack_api, "T0009", "unused", enterprise="E0002")
    slack_api.clear()
    stranger.command("list")
    assert "not installed" in json.dumps(slack_api.wait_for_response(stranger.team)[-1])
    assert slack_api.calls() == []


def test_install_pages_say_what_went_wrong(oauth_bot, slack_api):
    with httpx.Client(base_url=oauth_bot.url, timeout=10) as browser:
        cancelled = browser.get("/slack/oauth_redirect", params={"error": "access_denied", "state": "x"})
        assert cancelled.status_code == 200 and "cancelled" in cancelled.text
        start = browser.get("/slack/install")
        state = re.search(COOKIE + r"=([^;]+)", start.headers["set-cookie"]).group(1)
        assert "no-store" in start.headers["cache-control"]
        other_browser = browser.get("/slack/oauth_redirect", params={"code": "c", "state": state})
        assert other_browser.status_code == 400 and "another browser" in other_browser.text
        bad_code = browser.get("/slack/oauth_redirect", params={"code": "nope", "state": state},
                               headers={"Cookie": f"{COOKIE}={state}"})
        assert bad_code.status_code == 401 and "refused the authorization code" in bad_code.text
        reused = browser.get("/slack/oauth_redirect", params={"code": "nope", "state": state},
                             headers={"Cookie": f"{COOKIE}={state}"})
        assert reused.status_code == 401 and "expired" in reused.text  # a state works once
        for page in (cancelled, other_browser, bad_code, reused):
            assert 'href="/slack/install"' in page.text
    assert slack_api.calls("oauth.v2.access")[-1]["code"] == "nope"


def test_no_installation_token_or_client_secret_in_the_logs_at_debug(tmp_path, clean_redis, redis_url, slack_api,
                                                                     mida_sandbox):
    """`python -m bot serve` in OAuth mode at LOG_LEVEL=DEBUG: an install (Slack's answer carries
    the new token), a connect and a command; the output never holds the token or the secret."""
    env = bot_env(redis_url=redis_url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url,
                  oauth=True, LOG_LEVEL="DEBUG")
    bot = BotProcess(env, tmp_path / "bot.log").start()
    try:
        s = space(bot, slack_api, "T0001", "xoxb-T0001-oauth-in-logs-ffffffffffff")
        assert install(bot, slack_api, code="code-logs", token=s.token, team=s.team).status_code == 200
        assert connect(s, slack_api).status_code == 200
        s.command("list")
        slack_api.wait_for_response(s.team)
    finally:
        bot.stop()
    output = bot.output()
    assert "INFO bot.slack.oauth: installed enterprise=None team='T0001' org_wide=False" in output  # the install
    assert "DEBUG slack_sdk.web.async_base_client: Received the following response" in output  # at DEBUG
    for secret in (s.token, CLIENT_SECRET, API_KEY):
        assert secret not in output


def _grid_org(bot: InProcessBot, slack_api: SlackStandIn, enterprise: str, code: str, token: str,
              teams: list[tuple[str, bool]]) -> list[Space]:
    """An org-wide install of `enterprise`, and its workspaces (team id, eu project?) connected."""
    done = install(bot, slack_api, code=code, token=token, team=None, enterprise=enterprise, org_wide=True)
    assert done.status_code == 200 and "every workspace of the organisation" in done.text
    spaces = [space(bot, slack_api, team, token, eu=eu, enterprise=enterprise) for team, eu in teams]
    for s in spaces:
        answer = connect(s, slack_api)
        assert answer.status_code == 200 and "errors" not in answer.text
    return spaces


def _served_and_pending(s: Space, slack_api, mida_sandbox, served: int, pending: int) -> str:
    """`served` approved and executed (its follow-ups scheduled), `pending` waiting for approval."""
    writes = len(serve_writes(mida_sandbox))
    request_id, _ = ask_to_serve(s, slack_api, served, "1")
    assert s.action(ids.APPROVE, request_id, user=s.bob).status_code == 200
    wait_until(lambda: len(serve_writes(mida_sandbox)) == writes + 1, what=f"the serve write of {served}")
    slack_api.wait_for("chat.postEphemeral", predicate=lambda c: c["user"] == s.alice)  # the flow is over
    slack_api.clear()
    return ask_to_serve(s, slack_api, pending, "1")[0]


@pytest.mark.cluster
@pytest.mark.parametrize("event", [
    {"type": "app_uninstalled"},
    {"type": "tokens_revoked", "tokens": {"bot": ["UBOT_code-org"]}},
], ids=["app_uninstalled", "tokens_revoked"])
def test_an_org_wide_uninstall_forgets_every_workspace_of_the_org(event, oauth_bot, slack_api, mida_sandbox,
                                                                 clean_redis):
    from bot.domain import RequestStatus

    org = "xoxb-E0001-org-wide-eeeeeeeeeeee"
    one, two = _grid_org(oauth_bot, slack_api, "E0001", "code-org", org, [("T0003", False), ("T0004", True)])
    (other,) = _grid_org(oauth_bot, slack_api, "E0002", "code-other", "xoxb-E0002-org-wide-ffffffffffff",
                         [("T0009", False)])
    pending = {one.key: _served_and_pending(one, slack_api, mida_sandbox, 1234, 1238),
               two.key: _served_and_pending(two, slack_api, mida_sandbox, 2001, 2002),
               other.key: _served_and_pending(other, slack_api, mida_sandbox, 1239, 1238)}
    deps = oauth_bot.deps
    for s, served in ((one, 1234), (two, 2001), (other, 1239)):
        assert len(oauth_bot.run(deps.followups.scheduled(_team(s), served))) == 3  # the default 1 h, 24 h, 168 h

    # Slack's org-wide event names only the enterprise: no team_id, no authorizations.
    cause = event["type"]
    assert one.slack.event(event, team_id=None, enterprise_id="E0001").status_code == 200

    for s, served in ((one, 1234), (two, 2001)):
        wait_until(lambda s=s: clean_redis.hget(f"mida:{{{s.key}}}:req:{pending[s.key]}".encode(), b"status")
                   == b"cancelled", what=f"{s.team}'s request cancelled")
        wait_until(lambda s=s: not clean_redis.exists(f"mida:{{{s.key}}}:workspace".encode()),
                   what=f"{s.team} disconnected")
        # follow-ups are the last step of forgetting a workspace
        wait_until(lambda s=s, served=served: oauth_bot.run(deps.followups.scheduled(_team(s), served)) == [],
                   what=f"{s.team}'s follow-ups cancelled")
        audit = [json.loads(f[b"entry"]) for _, f in clean_redis.xrange(f"mida:{{{s.key}}}:audit".encode())]
        cancelled = [e for e in audit if e["event"] == "cancelled"]
        assert [(e["request_id"], e["detail"]) for e in cancelled] == [(pending[s.key], {"cause": cause})]
        assert [e["detail"] for e in audit if e["event"] == "disconnected"] == [{"cause": cause}]
    assert sorted({m.split("|")[0] for m in scheduled_followups(clean_redis)}) == [other.key]
    assert not clean_redis.exists(f"mida:{{E0001}}:install:{CLIENT_ID}:bot-latest".encode())

    # The other org: untouched.
    assert clean_redis.exists(f"mida:{{E0002}}:install:{CLIENT_ID}:bot-latest".encode())
    assert clean_redis.exists(f"mida:{{{other.key}}}:workspace".encode())
    request = oauth_bot.run(deps.requests.get(_team(other), pending[other.key]))
    assert request.status is RequestStatus.PENDING
    assert len(oauth_bot.run(deps.followups.scheduled(_team(other), 1239))) == 3
