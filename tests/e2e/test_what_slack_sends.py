"""Slash commands as Slack really sends them: any field may hold the word "payload" (the text, the
channel's name, the workspace's domain), and the text may hold Slack's own markup (`<!channel>`)."""

from __future__ import annotations

import json

import pytest

from standins.bot_server import SIGNING_SECRET, BotProcess, WorkerProcess, bot_env
from standins.flows import connect
from standins.people import ALICE, introduce
from standins.slack_requests import BotClient
from standins.waiting import wait_until


def results_reply(slack, slack_api, **fields) -> dict:
    before = len(slack_api.responses("cmd"))
    answer = slack.command("results 1234", user_id=ALICE, **fields)
    assert answer.status_code == 200
    return slack_api.wait_for_response("cmd", count=before + 1)[-1]


@pytest.mark.parametrize(
    "fields",
    [{"channel_name": "payload-team"}, {"team_domain": "payload-co"}, {"channel_name": "PAYLOAD"}],
    ids=["channel payload-team", "workspace payload-co", "channel PAYLOAD"],
)
def test_a_command_where_a_field_says_payload_is_answered(connected, slack, slack_api, fields):
    answer = results_reply(slack, slack_api, **fields)
    assert answer["blocks"][0] == {
        "type": "header", "text": {"type": "plain_text", "text": "Homepage CTA Button Color Test", "emoji": True}
    }


def test_the_word_payload_in_the_text_gets_the_usage_answer_in_the_ack(connected, slack):
    acked = slack.command("results 1234 payload", user_id=ALICE)
    assert acked.status_code == 200
    assert acked.json()["text"] == (
        "`payload` is not a report phase: use pre, post or all. Usage: /mida results &lt;test_id&gt; [pre|post|all]"
    )


def test_payload_as_an_unknown_command_gets_the_help(connected, slack):
    acked = slack.command("payload", user_id=ALICE)
    assert acked.status_code == 200
    assert acked.json()["text"].startswith("`payload` is not a /mida command. Mida for Slack: /mida help")


def test_an_unknown_command_is_echoed_escaped(connected, slack):
    acked = slack.command("<!channel>", user_id=ALICE)
    assert acked.status_code == 200
    body = acked.json()
    assert body["text"].startswith("`&lt;!channel&gt;` is not a /mida command. Mida for Slack:")
    assert body["blocks"][0]["text"]["text"] == (
        ":grey_question: `&lt;!channel&gt;` is not a /mida command. Here is what it can do."
    )
    assert "<!channel>" not in json.dumps(body)


def test_an_unknown_command_with_a_link_and_an_ampersand_is_echoed_escaped(connected, slack):
    body = slack.command("<https://evil.example|a&b>", user_id=ALICE).json()
    assert body["text"].startswith("`&lt;https://evil.example|a&amp;b&gt;` is not a /mida command.")


def test_split_processes_answer_a_command_from_the_payload_team_channel(
    clean_redis, redis_url, slack_api, mida_sandbox, tmp_path
):
    """`serve --no-worker` acks and queues the body; the worker re-reads it and answers."""
    env = bot_env(redis_url=redis_url, slack_api_url=slack_api.api_url, mida_api_url=mida_sandbox.api_url)
    web = BotProcess(env, tmp_path / "web.log", args=("--no-worker",)).start()
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        slack = BotClient(web.url, SIGNING_SECRET, response_url=slack_api.response_url("cmd"))
        introduce(slack_api)
        assert connect(slack, slack_api).status_code == 200
        acked = slack.command("results 1234", user_id=ALICE, channel_name="payload-team", team_domain="payload-co")
        assert acked.status_code == 200
        answer = slack_api.wait_for_response("cmd", timeout=15)[-1]
        assert answer["blocks"][0]["text"]["text"] == "Homepage CTA Button Color Test"
        wait_until(lambda: clean_redis.xlen("mida:lazy") == 0, timeout=5, what="the lazy queue worked off")
    finally:
        worker.stop()
        web.stop()
