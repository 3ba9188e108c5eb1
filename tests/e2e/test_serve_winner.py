"""Serve a winner, change the rollout, stop serving: the serving slice over real HTTP, with
no approval required (policy off), against the Mida sandbox and a real Redis."""

from __future__ import annotations

import json
import time

import pytest

from bot.views import ids
from standins.bot_server import PUBLIC_URL
from standins.flows import open_change_modal, set_policy_off, submit_change
from standins.people import ALICE, CHANNEL, TEAM
from standins.sandbox import API_KEY, PROJECT_KEY
from standins.waiting import wait_until
from tests.e2e.helpers import audit_entries, card_text, final_card, outcome_section


@pytest.fixture
def connected(connected):
    set_policy_off(connected)
    return connected


@pytest.mark.cluster
def test_serve_winner_happy_path(connected, slack, slack_api, mida_sandbox, clean_redis):
    view = open_change_modal(slack, slack_api, "serve-winner #1234 1 25%")

    # The modal shows the evidence: name, each variant's numbers, the chosen variant and rollout.
    shown = json.dumps(view, ensure_ascii=False)
    assert view["blocks"][0]["text"]["text"] == "Homepage CTA Button Color Test"
    assert view["blocks"][1]["elements"][0]["text"] == "#1234 · Live · 15 days running"
    assert "1,480" in shown and "+25.0" in shown
    assert view["private_metadata"] and len(view["private_metadata"]) < 64
    assert mida_sandbox.writes() == []  # nothing is written before the person confirms

    response = submit_change(slack, view, variant="1", rollout="25", reason="Clear winner after 15 days")
    assert response.status_code == 200 and "errors" not in response.text

    card = final_card(slack_api, ":white_check_mark: *Done*")
    writes = mida_sandbox.writes()
    assert len(writes) == 1
    assert writes[0]["method"] == "POST"
    assert writes[0]["path"].endswith(f"/project/{PROJECT_KEY}/experiment/1234/serve-winner")
    assert writes[0]["json"] == {"variant_id": "1", "traffic_allocation": 25}
    assert writes[0]["headers"]["authorization"] == f"Bearer {API_KEY}"

    text = card_text(card)
    assert f"<@{ALICE}>" in text
    assert f"{PUBLIC_URL}/results/" in text
    assert f"https://app.mida.test/project/{PROJECT_KEY}/" in text
    assert "25" in text

    entries = audit_entries(clean_redis)
    events = [e["event"] for e in entries]
    assert events[-2:] == ["requested", "executed"]
    executed = entries[-1]
    assert executed["change"] == {"action": "serve_winner", "test_id": 1234, "variant_id": "1", "rollout": 25.0}
    assert executed["outcome"]["ok"] is True
    assert executed["outcome"]["mida_body"]["serving_variant_id"] == "1"
    assert entries[-2]["actor"] == {"user_id": ALICE, "team_id": TEAM}
    assert entries[-2]["reason"] == "Clear winner after 15 days"

    # The results link is a page the bot renders, with the post-deploy rows.
    link = next(part for part in text.split('"') if part.startswith(f"{PUBLIC_URL}/results/"))
    page = connected_page(connected, link)
    assert page.status_code == 200 and "Post-deploy" in page.text


def connected_page(bot, public_link: str):
    import httpx

    return httpx.get(bot.url + public_link.removeprefix(PUBLIC_URL), timeout=10)


def test_rollout_and_stop_serving(connected, slack, slack_api, mida_sandbox, clean_redis):
    view = open_change_modal(slack, slack_api, "rollout 1237 75")
    assert "50" in json.dumps(view)  # the current rollout is shown
    submit_change(slack, view, rollout="75")
    final_card(slack_api, "75")

    view = open_change_modal(slack, slack_api, "stop 1237")
    submit_change(slack, view, reason="Seasonal page is gone")
    slack_api.wait_for("chat.update", count=2, timeout=10)
    wait_until(lambda: len(mida_sandbox.writes()) >= 2, timeout=10, what="both writes at Mida")
    writes = mida_sandbox.writes()
    assert [(w["method"], w["path"].rsplit("/", 1)[1], w["json"]) for w in writes] == [
        ("PATCH", "serving-rollout", {"traffic_allocation": 75}),
        ("POST", "stop-serving", {}),
    ]
    assert mida_sandbox.experiment(1237)["serving_variant_id"] is None
    events = [e["event"] for e in audit_entries(clean_redis)]
    assert events.count("executed") == 2


def test_bad_rollout_in_the_modal_is_an_error_on_its_field(connected, slack, slack_api, mida_sandbox, clean_redis):
    view = open_change_modal(slack, slack_api, "serve-winner 1234")
    for bad in ("150", "-1", "abc", "NaN", "1e3", ""):
        response = submit_change(slack, view, variant="1", rollout=bad)
        body = response.json()
        assert body["response_action"] == "errors" and ids.ROLLOUT in body["errors"], bad
    assert mida_sandbox.writes() == []
    assert [e["event"] for e in audit_entries(clean_redis)] == ["connected"]


@pytest.mark.parametrize(
    "text",
    ["serve-winner", "serve-winner abc", "rollout 1234", "rollout 1234 250%", "stop-serving", "results 12 sideways", "serve 1234 1 2 3"],
)
def test_bad_arguments_get_usage_and_send_nothing_to_mida(connected, slack, slack_api, mida_sandbox, text):
    response = slack.command(text, user_id=ALICE)
    assert response.status_code == 200
    body = response.json()
    assert "response_type" not in body  # an ack without one is private to the person
    assert "/mida" in json.dumps(body)
    assert mida_sandbox.requests() == []
    assert slack_api.calls("views.open") == []


def test_unknown_experiment_is_explained_in_the_modal(connected, slack, slack_api, mida_sandbox):
    view = open_change_modal_expecting_message(slack, slack_api, "serve-winner 999999")
    assert view["blocks"][0]["text"]["text"] == (
        'Mida found no experiment #999999 in the connected project. Mida said: "Experiment not found". The id may '
        "be wrong, or the experiment may belong to another Mida project than the one connected; /mida list shows "
        "this project's experiments."
    )
    assert mida_sandbox.writes() == []


def open_change_modal_expecting_message(slack, slack_api, text):
    updates = len(slack_api.calls("views.update"))
    slack.command(text, user_id=ALICE, channel_id=CHANNEL)
    call = slack_api.wait_for("views.update", count=updates + 1)[-1]
    view = slack_api.view(call["view_id"])
    assert "submit" not in view
    return view


def test_serving_an_experiment_that_already_serves_explains_the_state(connected, slack, slack_api, mida_sandbox):
    view = open_change_modal_expecting_message(slack, slack_api, "serve-winner 1237")
    text = json.dumps(view)
    assert "already serving" in text.lower() and "rollout" in text.lower()


def test_a_409_at_execution_is_explained_with_the_state_read_back(connected, slack, slack_api, mida_sandbox):
    view = open_change_modal(slack, slack_api, "serve-winner 1234 1 25")
    # Someone serves from Mida's dashboard between the modal and the click.
    mida_sandbox.set_experiment(1234, serving_variant_id="1", traffic_allocation=60)
    submit_change(slack, view, variant="1", rollout="25")
    card = final_card(slack_api, ":twisted_rightwards_arrows: *Superseded*")
    assert outcome_section(card) == (
        "The experiment changed in Mida after this request was made, so it was not applied. Now it is live, "
        "serving *Variant 1 — Red CTA Button* (id `1`) at 60 %. (The experiment changed in Mida after this was "
        "requested.) Ask again if the change is still wanted. _The bot read the experiment back to learn what happened._"
    )
    assert mida_sandbox.writes() == []  # the read-back before writing noticed; nothing was sent


def test_a_409_answer_is_explained_with_the_state_read_back(connected, slack, slack_api, mida_sandbox, clean_redis):
    view = open_change_modal(slack, slack_api, "serve-winner 1234 1 25")
    mida_sandbox.fault(path_contains="serve-winner", status=409, error="Experiment cannot serve: business rule")
    submit_change(slack, view, variant="1", rollout="25")
    card = final_card(slack_api, "business rule")
    assert outcome_section(card) == (
        'Mida refused to serve a winner because of the experiment\'s current state. Mida said: "Experiment cannot '
        'serve: business rule". Now: Experiment #1234 (Homepage CTA Button Color Test) is live and not serving a '
        "winner. To serve a winner, use /mida serve-winner 1234."
    )
    assert audit_entries(clean_redis)[-1]["event"] == "failed"
    assert audit_entries(clean_redis)[-1]["outcome"]["mida_status"] == 409


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (
            404,
            "Experiment not found",
            'Mida found no experiment #1234 in the connected project. Mida said: "Experiment not found". The id may '
            "be wrong, or the experiment may belong to another Mida project than the one connected; /mida list "
            "shows this project's experiments.",
        ),
        (
            400,
            "Missing variant_id",
            'Mida rejected the request (HTTP 400). Mida said: "Missing variant_id". Nothing was changed; check the values and '
            "try again.",
        ),
        (
            403,
            "Plan limit",
            'Mida does not allow this action with the connected API key (403). Mida said: "Plan limit". Check the '
            "key's access in Mida; an admin can connect another key with /mida connect.",
        ),
    ],
)
def test_other_documented_errors_are_explained_on_the_card(connected, slack, slack_api, mida_sandbox, status, error, expected):
    view = open_change_modal(slack, slack_api, "serve-winner 1234 1 25")
    mida_sandbox.fault(path_contains="serve-winner", status=status, error=error)
    submit_change(slack, view, variant="1", rollout="25")
    card = final_card(slack_api, ":x: *Failed*")
    assert outcome_section(card) == expected
    assert len(mida_sandbox.writes()) == 1


def test_mida_401_at_execution_says_an_admin_must_reconnect(connected, slack, slack_api, mida_sandbox):
    view = open_change_modal(slack, slack_api, "serve-winner 1234 1 25")
    mida_sandbox.fault(path_contains="serve-winner", status=401, error="Invalid or missing API key")
    submit_change(slack, view, variant="1", rollout="25")
    card = final_card(slack_api, ":x: *Failed*")
    assert outcome_section(card) == (
        "Mida refused the stored API key (Invalid or missing API key). An admin must run /mida connect again."
    )


def test_mida_500_on_the_write_is_reconciled_by_reading_back(connected, slack, slack_api, mida_sandbox):
    view = open_change_modal(slack, slack_api, "serve-winner 1234 1 25")
    mida_sandbox.fault(path_contains="serve-winner", drop="after_apply", times=1)
    submit_change(slack, view, variant="1", rollout="25")
    card = final_card(slack_api, ":white_check_mark: *Done*")
    assert outcome_section(card) == (
        "Mida now reports the experiment as live, serving *Variant 1 — Red CTA Button* (id `1`) at 25 %. "
        "_The bot read the experiment back to learn what happened._"
    )
    assert len([w for w in mida_sandbox.writes() if "serve-winner" in w["path"]]) == 1


def test_unconnected_workspace_is_told_to_connect(bot, slack, slack_api, mida_sandbox):
    slack.command("serve-winner 1234", user_id=ALICE)
    reply = slack_api.wait_for_response("cmd")[-1]
    assert "/mida connect" in json.dumps(reply)
    assert slack_api.calls("views.open") == []
    assert mida_sandbox.requests() == []


def test_unsigned_or_badly_signed_requests_get_401_and_change_nothing(connected, slack, slack_api, mida_sandbox):
    from standins.slack_requests import slash_command

    body, ctype = slash_command("serve-winner 1234 1 25", user_id=ALICE)
    assert slack.post(body, ctype, signed=False).status_code == 401
    assert slack.post(body, ctype, secret="not-the-secret").status_code == 401
    assert slack.post(body, ctype, timestamp=int(time.time()) - 3600).status_code == 401
    assert slack.post(body, ctype, headers={"X-Slack-Request-Timestamp": "１２３".encode(), "X-Slack-Signature": "v0=zz"}).status_code == 401
    time.sleep(0.2)
    assert slack_api.calls("views.open") == []
    assert mida_sandbox.requests() == []


def test_picking_a_losing_variant_warns_and_asks_for_a_reason(connected, slack, slack_api, mida_sandbox):
    view = open_change_modal(slack, slack_api, "serve-winner 1238")
    updates = len(slack_api.calls("views.update"))
    slack.action(
        ids.VARIANT_SELECT,
        None,
        user_id=ALICE,
        view=view,
        block_id=ids.VARIANT,
        selected_option={"text": {"type": "plain_text", "text": "2"}, "value": "2"},
    )
    call = slack_api.wait_for("views.update", count=updates + 1)[-1]
    rerendered = slack_api.view(call["view_id"])
    text = json.dumps(rerendered, ensure_ascii=False)
    # Image carousel: 7.0 % vs 8.0 %, a 7.3 % chance to beat Control, short of the 95 % threshold.
    assert ":warning: Below the 95 % threshold: 7.3 % chance to beat Control." in text
    reason = next(b for b in rerendered["blocks"] if b.get("block_id") == ids.REASON)
    assert reason.get("optional") is False
    body = submit_change(slack, rerendered, variant="2", rollout="10", reason="").json()
    assert body["response_action"] == "errors" and ids.REASON in body["errors"]
    assert mida_sandbox.writes() == []


def test_the_post_deploy_button_shows_the_numbers_privately(connected, slack, slack_api, mida_sandbox):
    slack.action(ids.POST_DEPLOY_RESULTS, "1237", user_id=ALICE, channel_id=CHANNEL, message_ts="1700000001.000100")
    answer = slack_api.wait_for_response("cmd")[-1]
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert "Post-deploy" in json.dumps(answer)
    assert mida_sandbox.requests(path_contains="/result")[-1]["query"]["report_phase"] == "post_deploy"


def test_a_post_deploy_button_without_an_experiment_says_so(connected, slack, slack_api, mida_sandbox):
    slack.action(ids.POST_DEPLOY_RESULTS, "not-a-test", user_id=ALICE, channel_id=CHANNEL)
    answer = slack_api.wait_for_response("cmd")[-1]
    assert answer["text"] == "This button does not name an experiment; use /mida results &lt;test_id&gt;."
    assert (answer["response_type"], answer["replace_original"]) == ("ephemeral", False)
    assert mida_sandbox.requests() == []
