"""No secret in the logs, at any level: a real `python -m bot serve` at LOG_LEVEL=DEBUG goes through
connect (the Mida API key typed into the modal), serve with approval, approve, a Mida error and a
badly signed request whose body carries the API key; its whole output is then searched for the Mida
API key, the bot token, the signing secret and the encryption key.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote

import httpx

from bot.views import ids
from standins.bot_server import BOT_TOKEN, ENCRYPTION_KEY, SIGNING_SECRET, BotProcess, bot_env
from standins.flows import connect
from standins.people import ALICE, BOB, CHANNEL
from standins.sandbox import API_KEY
from standins.slack_requests import FORM, BotClient, plain, select, sign, view_submission
from standins.waiting import wait_until
from tests.e2e.helpers import audit_events, request_serve, serve_writes

WRONG_KEY = "mida_sk_wrong_but_secret_7a1b2c3d4e5f"


def test_no_secret_reaches_the_logs_at_debug(tmp_path, clean_redis, redis_url, slack_api, mida_sandbox):
    env = bot_env(
        redis_url=redis_url,
        slack_api_url=slack_api.api_url,
        mida_api_url=mida_sandbox.api_url,
        LOG_LEVEL="DEBUG",
    )
    bot = BotProcess(env, tmp_path / "bot.log").start()
    try:
        slack = BotClient(bot.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))

        # A wrong key first (Mida answers 401 and the modal says so), then the right one.
        refused = connect(slack, slack_api, api_key=WRONG_KEY)
        assert refused.status_code == 200 and ids.API_KEY in refused.json().get("errors", {})
        assert connect(slack, slack_api).status_code == 200
        slack_api.clear()

        request_id = request_serve(slack, slack_api)
        slack.action(ids.APPROVE, request_id, user_id=BOB, channel_id=CHANNEL)
        wait_until(lambda: "executed" in audit_events(clean_redis), what="the approved change")
        assert len(serve_writes(mida_sandbox)) == 1

        # A Mida error while using the stored (decrypted) key.
        # (on the result read: `results` reads the secondary metrics alongside, in either order)
        mida_sandbox.fault(method="GET", path_contains="/result", status=401, error="Invalid or missing API key", times=1)
        slack.command("results 1234", user_id=ALICE, channel_id=CHANNEL)
        slack_api.wait_for_response("cmd", predicate=lambda r: "/mida connect" in json.dumps(r))

        # A connect modal submission signed with the wrong secret: its body holds the API key.
        body, _ = view_submission(
            ids.CONNECT_MODAL,
            {ids.PROJECT_KEY: plain("sandbox-project"), ids.API_KEY: plain(API_KEY), ids.REGION: select("us")},
            user_id=ALICE,
        )
        bad = httpx.post(bot.url + "/slack/events", content=body, timeout=10,
                         headers={"Content-Type": FORM, **sign("not-the-signing-secret", body)})
        assert bad.status_code == 401
        # The same with a malformed signature, and with none at all.
        for headers in ({"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=zz"}, {}):
            response = httpx.post(bot.url + "/slack/events", content=body, timeout=10,
                                  headers={"Content-Type": FORM, **headers})
            assert response.status_code == 401
        # And a body that is signed but malformed, carrying the key too.
        junk = b"payload=" + quote(API_KEY).encode() + b"{"
        assert httpx.post(bot.url + "/slack/events", content=junk, timeout=10,
                          headers={"Content-Type": FORM, **sign(SIGNING_SECRET, junk)}).status_code == 400
        time.sleep(0.5)
    finally:
        bot.stop()

    output = bot.output()
    assert "DEBUG" in output and "bot.bolt" in output  # it really logged at DEBUG, Bolt included
    assert "Traceback" not in output
    for name, secret in {
        "Mida API key": API_KEY,
        "the refused Mida API key": WRONG_KEY,
        "bot token": BOT_TOKEN,
        "signing secret": SIGNING_SECRET,
        "encryption key": ENCRYPTION_KEY,
    }.items():
        for form in {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}:
            assert form not in output, f"the {name} appears in the logs"


def test_a_mida_key_is_scrubbed_as_soon_as_the_bot_holds_it(bot, slack, slack_api):
    """Defence in depth: every Mida API key the process holds — typed into the modal (even one Mida
    refuses) or decrypted from Redis — is registered with the log scrubber."""
    from bot.domain import Person, Region, TeamRef, Workspace
    from bot.logs import SECRETS

    typed = "mida_sk_typed_into_the_modal_0a1b2c3d"
    assert SECRETS.scrub(f"key={typed}") == f"key={typed}"
    connect(slack, slack_api, api_key=typed)  # Mida refuses it
    assert SECRETS.scrub(f"key={typed}") == "key=[redacted]"

    stored = "mida_sk_saved_by_another_process_9f8e7d6c"
    team = TeamRef(team_id="T0999")
    workspace = Workspace(team=team, project_key="p", region=Region("us"), api_key=stored,
                          connected_by=Person(user_id="U1", team_id="T0999"), connected_at=time.time())
    bot.run(bot.deps.workspaces.save(workspace))  # as another process would have
    assert SECRETS.scrub(stored) == stored
    assert bot.run(bot.deps.workspaces.get(team)).api_key == stored
    assert SECRETS.scrub(stored) == "[redacted]"
