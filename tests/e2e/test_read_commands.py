"""/mida status, list, results, audit, audit export and disconnect, answered privately over HTTP."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest

from standins.bot_server import PUBLIC_URL
from standins.flows import open_change_modal, set_policy_off, submit_change
from standins.people import ADMIN, ALICE
from standins.sandbox import API_KEY, PROJECT_KEY


def reply(slack, slack_api, text, user=ALICE) -> dict:
    before = len(slack_api.responses("cmd"))
    assert slack.command(text, user_id=user).status_code == 200
    answer = slack_api.wait_for_response("cmd", count=before + 1)[-1]
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    return answer


def test_list_shows_each_experiment_with_its_serving_state(connected, slack, slack_api, mida_sandbox):
    text = json.dumps(reply(slack, slack_api, "list"), ensure_ascii=False)
    for test_id in (1234, 1235, 1236, 1237, 1238, 1239):
        assert str(test_id) in text
    assert "Homepage CTA Button Color Test" in text
    assert "50 %" in text  # 1237 serves variant 1 at 50 %
    assert all(r["method"] == "GET" for r in mida_sandbox.requests())


@pytest.mark.parametrize(("phase", "word"), [("", None), ("pre", "Pre-deploy"), ("post", "Post-deploy"), ("all", "All time")])
def test_results_for_each_phase(connected, slack, slack_api, mida_sandbox, phase, word):
    answer = reply(slack, slack_api, f"results #1237 {phase}".strip())
    text = json.dumps(answer, ensure_ascii=False)
    assert answer["blocks"][0]["text"]["text"] == "Free Shipping Banner Test"
    assert answer["blocks"][1]["elements"][0]["text"].startswith("#1237 · Live · 24 days running · *")
    assert "Control" in text and "%" in text
    if word:
        assert word in text
        query = mida_sandbox.requests(path_contains="/result")[-1]["query"]
        assert query["report_phase"] == {"pre": "pre_deploy", "post": "post_deploy", "all": "all_time"}[phase]
    assert f"{PUBLIC_URL}/results/" in text


def test_results_of_an_unknown_experiment(connected, slack, slack_api):
    text = json.dumps(reply(slack, slack_api, "results 424242"))
    assert "424242" in text and "/mida list" in text


def test_status_masks_the_key(connected, slack, slack_api):
    text = json.dumps(reply(slack, slack_api, "status"), ensure_ascii=False)
    assert PROJECT_KEY in text and "••••" + API_KEY[-4:] in text and API_KEY not in text


@pytest.mark.cluster
def test_audit_and_its_csv_export(connected, slack, slack_api):
    set_policy_off(connected)
    view = open_change_modal(slack, slack_api, "serve 1234 1 40")
    submit_change(slack, view, variant="1", rollout="40", reason='=HYPERLINK("x") is not a formula')
    slack_api.wait_for("chat.update", predicate=lambda c: "succeeded" in json.dumps(c.params).lower(), timeout=10)

    text = json.dumps(reply(slack, slack_api, "audit 1234"), ensure_ascii=False)
    assert f"<@{ALICE}>" in text and "1234" in text
    export = json.dumps(reply(slack, slack_api, "audit export"), ensure_ascii=False)
    link = next(part for part in export.replace("|", '"').replace("<", '"').split('"') if part.startswith(f"{PUBLIC_URL}/audit/"))
    page = httpx.get(connected.url + link.removeprefix(PUBLIC_URL), timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(page.text)))
    assert [r["event"] for r in rows] == ["connected", "requested", "executed"]
    assert rows[0]["actor_user"] == ADMIN and rows[1]["actor_user"] == ALICE
    assert rows[1]["reason"].startswith("'=")  # neutralised for spreadsheets
    assert API_KEY not in page.text
    tampered = httpx.get(connected.url + link.removeprefix(PUBLIC_URL)[:-3] + "abc", timeout=10)
    assert tampered.status_code == 403


@pytest.mark.cluster
def test_disconnect_is_for_admins_and_forgets_the_key(connected, slack, slack_api, clean_redis):
    assert "admin" in json.dumps(reply(slack, slack_api, "disconnect", user=ALICE)).lower()
    assert list(clean_redis.scan_iter(match=b"mida:*:workspace"))
    reply(slack, slack_api, "disconnect", user=ADMIN)
    assert not list(clean_redis.scan_iter(match=b"mida:*:workspace"))
    assert "/mida connect" in json.dumps(reply(slack, slack_api, "list"))


def test_help_and_unknown_words_answer_in_the_ack(connected, slack, mida_sandbox):
    for text in ("", "help", "frobnicate"):
        body = slack.command(text, user_id=ALICE).json()
        assert "/mida serve-winner" in json.dumps(body)
    assert "frobnicate" in json.dumps(slack.command("frobnicate", user_id=ALICE).json())
    assert mida_sandbox.requests() == []
