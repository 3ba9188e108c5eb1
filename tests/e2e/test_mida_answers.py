"""A Mida that answers badly, end to end over signed HTTP: every answer the bot gives is true.

A write answered 2xx whose body contradicts the change, or that the bot cannot read, is settled by
reading the experiment back: "Done" (and follow-ups) only when the change is seen applied. Reads
answered unreadably, without a report phase, or with counts no experiment can have, get a clear
private message. The bot's own state check is never quoted as Mida's words.

Each scenario uses the sandbox's fault knobs (answer_merge, answer_omit, answer_text, apply=False).
"""

from __future__ import annotations

import json
import time

import pytest

from bot.domain import TeamRef
from standins.flows import open_change_modal, set_policy_off, submit_change
from standins.people import ALICE, CHANNEL, TEAM
from standins.waiting import wait_until
from tests.e2e.helpers import audit_entries, audit_events, card_text, final_card, outcome_section, request_record

SERVE_MESSAGE = "Winner is now served to eligible traffic at the configured rollout percentage on the same experiment."
NOT_JSON = "Mida answered 200 with a body that is not JSON"


@pytest.fixture
def connected(connected):
    set_policy_off(connected)
    return connected


def change(slack, slack_api, text: str, **values: str) -> None:
    """Open the confirm modal for `text` and submit it (policy off: it runs at once)."""
    view = open_change_modal(slack, slack_api, text)
    response = submit_change(slack, view, reason="Checked the numbers", **values)
    assert response.status_code == 200 and "errors" not in response.text


def settled(clean_redis) -> tuple[dict, dict]:
    """The request's record once final, and its one final audit entry."""
    request_id = wait_until(
        lambda: next((e["request_id"] for e in audit_entries(clean_redis) if e["event"] == "requested"), None),
        what="the request",
    )
    record = wait_until(
        lambda: (r := request_record(clean_redis, request_id))["status"] in ("succeeded", "failed", "superseded") and r,
        what="the request finishing",
    )
    wait_until(lambda: audit_events(clean_redis)[-1] in ("executed", "failed", "superseded"), what="the audit entry")
    time.sleep(0.3)  # a second final entry, if there were one, shows up here
    finals = [e for e in audit_entries(clean_redis) if e["event"] in ("executed", "failed", "superseded")]
    assert len(finals) == 1, audit_events(clean_redis)
    return record, finals[0]


def thread_line(slack_api) -> str:
    post = slack_api.wait_for("chat.postMessage", predicate=lambda c: c["channel"] == CHANNEL and "thread_ts" in c.params)
    return post[-1]["text"]


def followups(bot, test_id: int) -> list[float]:
    return bot.run(bot.deps.followups.scheduled(TeamRef(team_id=TEAM), test_id))


def writes_to(mida_sandbox, suffix: str) -> list[dict]:
    return [w for w in mida_sandbox.writes() if w["path"].endswith(suffix)]


# ----------------------------------------------------------------------------- item 4: contradicting answers


def test_serve_answered_success_false_and_not_applied_fails_with_what_is_true(
    connected, slack, slack_api, mida_sandbox, clean_redis
):
    mida_sandbox.fault(path_contains="/serve-winner", answer_merge={"success": False}, apply=False, times=1)
    change(slack, slack_api, "serve-winner 1234 1 25", variant="1", rollout="25")
    card = final_card(slack_api, "Failed")
    assert outcome_section(card) == (
        "Mida's answer does not match the change (success: false; its message: "
        f"\"{SERVE_MESSAGE}\"). The bot read the experiment back: the change was not applied. Now: Experiment "
        "#1234 (Homepage CTA Button Color Test) is live and not serving a winner. Ask again if the change is "
        "still wanted. _The bot read the experiment back to learn what happened._"
    )
    record, entry = settled(clean_redis)
    assert record["status"] == "failed"
    assert entry["event"] == "failed"
    outcome = entry["outcome"]
    assert (outcome["ok"], outcome["mida_status"], outcome["failure"]["kind"], outcome["answer_problem"]) == (
        False, 200, "answer_contradicts", "contradicts"
    )
    assert outcome["mida_body"]["success"] is False and outcome["reconciled"] is True
    assert outcome["state_after"]["is_serving"] is False
    assert len(writes_to(mida_sandbox, "/serve-winner")) == 1
    assert followups(connected, 1234) == []
    assert mida_sandbox.experiment(1234)["serving_variant_id"] is None


def test_serve_answered_is_serving_false_but_applied_is_done_with_the_read_back_state(
    connected, slack, slack_api, mida_sandbox, clean_redis
):
    mida_sandbox.fault(path_contains="/serve-winner", answer_merge={"is_serving": False}, times=1)
    change(slack, slack_api, "serve-winner 1234 1 25", variant="1", rollout="25")
    card = final_card(slack_api, "Done")
    assert outcome_section(card) == (
        "Mida's answer contradicted the change (is_serving: false; its message: "
        f"\"{SERVE_MESSAGE}\"), but the experiment read back shows the change applied: it is live, serving "
        "*Variant 1 — Red CTA Button* (id `1`) at 25 %. _The bot read the experiment back to learn what happened._"
    )
    record, entry = settled(clean_redis)
    assert record["status"] == "succeeded"
    assert entry["event"] == "executed"
    outcome = entry["outcome"]
    assert (outcome["ok"], outcome["reconciled"], outcome["answer_problem"]) == (True, True, "contradicts")
    assert outcome["answer_detail"] == f'is_serving: false; its message: "{SERVE_MESSAGE}"'
    assert (outcome["state_after"]["serving_variant_id"], outcome["state_after"]["traffic_allocation"]) == ("1", 25)
    assert len(writes_to(mida_sandbox, "/serve-winner")) == 1
    assert len(followups(connected, 1234)) == 3  # the policy's 1 h, 24 h and 168 h


def test_serve_answered_with_another_variant_and_not_applied_fails(connected, slack, slack_api, mida_sandbox, clean_redis):
    mida_sandbox.fault(path_contains="/serve-winner", answer_merge={"serving_variant_id": "0"}, apply=False, times=1)
    change(slack, slack_api, "serve-winner 1234 1 25", variant="1", rollout="25")
    card = final_card(slack_api, "Failed")
    assert outcome_section(card).startswith(
        "Mida's answer does not match the change (serving_variant_id 0, not 1; its message: "
    )
    assert "the change was not applied. Now: Experiment #1234 (Homepage CTA Button Color Test) is live and not serving a winner." in outcome_section(card)
    record, entry = settled(clean_redis)
    assert (record["status"], entry["event"], entry["outcome"]["failure"]["kind"]) == ("failed", "failed", "answer_contradicts")
    assert len(writes_to(mida_sandbox, "/serve-winner")) == 1
    assert followups(connected, 1234) == []


def test_rollout_answered_with_another_rollout_and_not_applied_fails(connected, slack, slack_api, mida_sandbox, clean_redis):
    mida_sandbox.fault(path_contains="/serving-rollout", answer_merge={"traffic_allocation": 50}, apply=False, times=1)
    change(slack, slack_api, "rollout 1237 75", rollout="75")
    card = final_card(slack_api, "Failed")
    assert outcome_section(card) == (
        "Mida's answer does not match the change (traffic_allocation 50, not 75; its message: "
        "\"Serving rollout percentage updated.\"). The bot read the experiment back: the change was not applied. "
        "Now: Experiment #1237 (Free Shipping Banner Test) is serving Sticky free-shipping banner (id 1) at 50 %. "
        "Ask again if the change is still wanted. _The bot read the experiment back to learn what happened._"
    )
    record, entry = settled(clean_redis)
    assert (record["status"], entry["event"]) == ("failed", "failed")
    assert len(writes_to(mida_sandbox, "/serving-rollout")) == 1
    assert mida_sandbox.experiment(1237)["traffic_allocation"] == 50


def test_stop_answered_success_false_but_applied_is_done_and_cancels_follow_ups(
    connected, slack, slack_api, mida_sandbox, clean_redis
):
    connected.run(connected.deps.followups.after_serve(_served_request(connected)))
    assert len(followups(connected, 1237)) == 3
    mida_sandbox.fault(path_contains="/stop-serving", answer_merge={"success": False}, times=1)
    change(slack, slack_api, "stop-serving 1237")
    card = final_card(slack_api, "Done")
    assert outcome_section(card).startswith("Mida's answer contradicted the change (success: false; its message: ")
    assert outcome_section(card).endswith(
        "but the experiment read back shows the change applied: it is live, not serving a winner. "
        "_The bot read the experiment back to learn what happened._"
    )
    record, entry = settled(clean_redis)
    assert (record["status"], entry["event"], entry["outcome"]["answer_problem"]) == ("succeeded", "executed", "contradicts")
    assert len(writes_to(mida_sandbox, "/stop-serving")) == 1
    assert followups(connected, 1237) == []


def _served_request(bot):
    """A request record for 1237 as if the bot had served it, so that follow-ups exist to cancel."""
    from bot.domain import Action, Change, ChangeRequest, Evidence, Person, Region
    from bot.mida.models import ExperimentStatus

    return ChangeRequest(
        id="served-1237",
        team=TeamRef(team_id=TEAM),
        project_key="sandbox-project",
        region=Region.US,
        change=Change(action=Action.SERVE_WINNER, test_id=1237, variant_id="1", rollout=50),
        requester=Person(user_id=ALICE, team_id=TEAM),
        evidence=Evidence(test_id=1237, test_name="Free Shipping Banner Test", status=ExperimentStatus.LIVE),
        channel_id=CHANNEL,
    )


# ----------------------------------------------------------------------------- item 5: answers the bot cannot read


def test_serve_applied_but_answered_with_html_is_done_not_nothing_changed(
    connected, slack, slack_api, mida_sandbox, clean_redis
):
    mida_sandbox.fault(path_contains="/serve-winner", answer_text="<html><body>OK</body></html>", times=1)
    change(slack, slack_api, "serve-winner 1234 1 25", variant="1", rollout="25")
    card = final_card(slack_api, "Done")
    assert outcome_section(card) == (
        f"Mida answered with something the bot could not read ({NOT_JSON}), but the experiment read back shows "
        "the change applied: it is live, serving *Variant 1 — Red CTA Button* (id `1`) at 25 %. "
        "_The bot read the experiment back to learn what happened._"
    )
    assert "nothing was changed" not in card_text(card).lower()
    assert thread_line(slack_api).startswith(
        ":white_check_mark: Executed (no approval needed under this workspace's policy). Mida answered with "
        f"something the bot could not read ({NOT_JSON}), but the experiment read back shows the change applied"
    )
    record, entry = settled(clean_redis)
    assert record["status"] == "succeeded"
    outcome = entry["outcome"]
    assert (entry["event"], outcome["ok"], outcome["reconciled"], outcome["answer_problem"]) == ("executed", True, True, "unreadable")
    assert (outcome["mida_status"], outcome["answer_detail"], outcome["mida_body"]) == (200, NOT_JSON, None)
    assert len(writes_to(mida_sandbox, "/serve-winner")) == 1
    assert len(followups(connected, 1234)) == 3


def test_serve_not_applied_and_answered_with_html_fails_saying_so(connected, slack, slack_api, mida_sandbox, clean_redis):
    mida_sandbox.fault(path_contains="/serve-winner", answer_text="<html>Bad gateway</html>", apply=False, times=1)
    change(slack, slack_api, "serve-winner 1234 1 25", variant="1", rollout="25")
    card = final_card(slack_api, "Failed")
    assert outcome_section(card) == (
        f"Mida answered with something the bot could not read ({NOT_JSON}). The bot read the experiment back: "
        "the change was not applied. Now: Experiment #1234 (Homepage CTA Button Color Test) is live and not "
        "serving a winner. Ask again if the change is still wanted. "
        "_The bot read the experiment back to learn what happened._"
    )
    assert thread_line(slack_api).startswith(
        f":x: Failed: Mida answered with something the bot could not read ({NOT_JSON}). The bot read the "
        "experiment back: the change was not applied."
    )
    record, entry = settled(clean_redis)
    assert (record["status"], entry["event"], entry["outcome"]["failure"]["kind"]) == ("failed", "failed", "answer_unreadable")
    assert len(writes_to(mida_sandbox, "/serve-winner")) == 1
    assert followups(connected, 1234) == []


def test_rollout_applied_but_answered_without_its_fields_is_done(connected, slack, slack_api, mida_sandbox, clean_redis):
    mida_sandbox.fault(path_contains="/serving-rollout", answer_omit=["traffic_allocation", "is_serving"], times=1)
    change(slack, slack_api, "rollout 1237 75", rollout="75")
    card = final_card(slack_api, "Done")
    assert outcome_section(card) == (
        "Mida answered with something the bot could not read (Mida's answer is not what its docs describe "
        "(fields: is_serving, traffic_allocation)), but the experiment read back shows the change applied: it is "
        "live, serving *Sticky free-shipping banner* (id `1`) at 75 %. "
        "_The bot read the experiment back to learn what happened._"
    )
    record, entry = settled(clean_redis)
    assert (record["status"], entry["event"], entry["outcome"]["answer_problem"]) == ("succeeded", "executed", "unreadable")
    assert len(writes_to(mida_sandbox, "/serving-rollout")) == 1


def test_serve_answered_with_a_string_for_is_serving_is_unreadable(connected, slack, slack_api, mida_sandbox, clean_redis):
    mida_sandbox.fault(path_contains="/serve-winner", answer_merge={"is_serving": "yes"}, apply=False, times=1)
    change(slack, slack_api, "serve-winner 1234 1 25", variant="1", rollout="25")
    card = final_card(slack_api, "Failed")
    assert outcome_section(card).startswith(
        "Mida answered with something the bot could not read (Mida's answer is not what its docs describe "
        "(fields: is_serving)). The bot read the experiment back: the change was not applied."
    )
    record, entry = settled(clean_redis)
    assert (record["status"], entry["outcome"]["failure"]["kind"]) == ("failed", "answer_unreadable")
    assert len(writes_to(mida_sandbox, "/serve-winner")) == 1


def test_unreadable_answer_and_no_read_back_says_it_may_or_may_not_have_been_applied(
    connected, slack, slack_api, mida_sandbox, clean_redis
):
    mida_sandbox.fault(path_contains="/serve-winner", answer_text="<html>OK</html>", latency=1.0, times=1)
    change(slack, slack_api, "serve-winner 1234 1 25", variant="1", rollout="25")
    # While Mida takes its time over the write, its reads start failing: the read-back fails too.
    wait_until(lambda: writes_to(mida_sandbox, "/serve-winner"), what="the write reaching Mida")
    mida_sandbox.fault(method="GET", path_contains="/experiment/1234/result", status=500)
    card = final_card(slack_api, "Failed")
    assert outcome_section(card) == (
        f"Mida answered with something the bot could not read ({NOT_JSON}), so the change may or may not have "
        "been applied; the experiment could not be read back either. Check with /mida results 1234 before "
        "trying again."
    )
    record, entry = settled(clean_redis)
    assert (record["status"], entry["outcome"]["failure"]["kind"], entry["outcome"]["reconciled"]) == (
        "failed", "answer_unreadable", False
    )
    assert len(writes_to(mida_sandbox, "/serve-winner")) == 1
    assert followups(connected, 1234) == []


# ----------------------------------------------------------------------------- reads answered badly


def reply(slack, slack_api, text: str) -> dict:
    before = len(slack_api.responses("cmd"))
    assert slack.command(text, user_id=ALICE, channel_id=CHANNEL).status_code == 200
    answer = slack_api.wait_for_response("cmd", count=before + 1)[-1]
    assert answer["response_type"] == "ephemeral"
    return answer


def test_a_read_answered_with_html_is_a_read_failure_with_a_clear_message(connected, slack, slack_api, mida_sandbox):
    mida_sandbox.fault(method="GET", path_contains="/experiment/1234/result", answer_text="<html>maintenance</html>")
    answer = reply(slack, slack_api, "results 1234")
    assert answer["text"] == (
        f"Mida answered with something the bot could not use ({NOT_JSON}). Nothing was changed. Try again in "
        "a minute; if it keeps happening, look at the experiment in Mida's dashboard."
    )
    assert mida_sandbox.writes() == []


# ----------------------------------------------------------------------------- item 6: the bot's own words


def modal_message(slack, slack_api, text: str) -> str:
    updates = len(slack_api.calls("views.update"))
    assert slack.command(text, user_id=ALICE, channel_id=CHANNEL).status_code == 200
    call = slack_api.wait_for("views.update", count=updates + 1)[-1]
    view = slack_api.view(call["view_id"])
    assert "submit" not in view
    return json.dumps(view["blocks"], ensure_ascii=False)


def test_a_draft_is_refused_in_the_bots_own_words_not_midas(connected, slack, slack_api, mida_sandbox, clean_redis):
    shown = modal_message(slack, slack_api, "serve-winner 1236")
    assert (
        "The experiment is a draft and cannot serve a winner. Nothing was sent to Mida. Now: Experiment #1236 "
        "(Checkout Trust Badges) is a draft (not started) and not serving a winner. Start it in Mida first, "
        "then use /mida serve-winner 1236."
    ) in shown
    assert "Mida said" not in shown and "Mida refused" not in shown
    assert mida_sandbox.writes() == []
    assert audit_events(clean_redis) == ["connected"]


def test_a_rollout_of_an_experiment_not_serving_is_refused_in_the_bots_own_words(connected, slack, slack_api, mida_sandbox):
    shown = modal_message(slack, slack_api, "rollout 1234 30")
    assert (
        "The experiment is not serving a winner. Nothing was sent to Mida. Now: Experiment #1234 (Homepage CTA "
        "Button Color Test) is live and not serving a winner. To serve a winner, use /mida serve-winner 1234."
    ) in shown
    assert "Mida said" not in shown
    assert mida_sandbox.writes() == []


def test_midas_own_409_is_quoted_as_midas_on_the_card_and_in_the_audit_log(
    connected, slack, slack_api, mida_sandbox, clean_redis
):
    mida_sandbox.fault(path_contains="/serve-winner", status=409, error="Experiment cannot serve: business rule", times=1)
    change(slack, slack_api, "serve-winner 1234 1 25", variant="1", rollout="25")
    card = final_card(slack_api, "Failed")
    assert outcome_section(card) == (
        "Mida refused to serve a winner because of the experiment's current state. Mida said: \"Experiment cannot "
        "serve: business rule\". Now: Experiment #1234 (Homepage CTA Button Color Test) is live and not serving a "
        "winner. To serve a winner, use /mida serve-winner 1234."
    )
    _, entry = settled(clean_redis)
    assert (entry["outcome"]["mida_status"], entry["outcome"]["mida_body"]) == (
        409, {"error": "Experiment cannot serve: business rule"}
    )


# ----------------------------------------------------------------------------- item 7: report_phase


@pytest.mark.parametrize(
    ("test_id", "words"),
    [(1237, "*Pre-deploy* numbers"), (1234, "*All time* numbers")],  # serving → pre-deploy, else all time
)
def test_results_without_a_report_phase_show_the_documented_default(connected, slack, slack_api, mida_sandbox, test_id, words):
    mida_sandbox.fault(method="GET", path_contains=f"/experiment/{test_id}/result", answer_omit=["report_phase"])
    answer = reply(slack, slack_api, f"results {test_id}")
    facts = answer["blocks"][1]["elements"][0]["text"]
    assert words in facts
    assert "report_phase" not in mida_sandbox.requests(path_contains="/result")[-1]["query"]


def test_results_with_an_unknown_report_phase_say_so_or_take_the_asked_one(connected, slack, slack_api, mida_sandbox):
    mida_sandbox.fault(method="GET", path_contains="/experiment/1237/result", answer_merge={"report_phase": "lifetime"})
    facts = reply(slack, slack_api, "results 1237")["blocks"][1]["elements"][0]["text"]
    assert "*Unknown-phase* numbers" in facts
    asked = reply(slack, slack_api, "results 1237 post")
    assert "*Post-deploy* numbers" in asked["blocks"][1]["elements"][0]["text"]
    assert asked["text"] == "Free Shipping Banner Test (#1237): Post-deploy results"


# ----------------------------------------------------------------------------- item 8: counts Mida cannot mean


def test_results_with_negative_visitors_are_refused_with_a_clear_message(connected, slack, slack_api, mida_sandbox):
    mida_sandbox.fault(method="GET", path_contains="/experiment/1234/result", answer_merge={"variants": [{}, {"visitors": -5}]})
    answer = reply(slack, slack_api, "results 1234")
    assert answer["text"] == (
        "Mida answered with something the bot could not use (Mida's answer has numbers that cannot be right "
        "(variant 1 has a negative count (-5 visitors, 148 conversions))). Nothing was changed. Try again in a "
        "minute; if it keeps happening, look at the experiment in Mida's dashboard."
    )
    assert "Control" not in json.dumps(answer)  # no numbers shown


def test_a_confirm_modal_with_more_conversions_than_visitors_records_no_evidence(
    connected, slack, slack_api, mida_sandbox, clean_redis
):
    mida_sandbox.fault(method="GET", path_contains="/experiment/1234/result", answer_merge={"variants": [{"conversions": 1501}]})
    shown = modal_message(slack, slack_api, "serve-winner 1234 1 25")
    assert (
        "Mida answered with something the bot could not use (Mida's answer has numbers that cannot be right "
        "(variant 0 has more conversions (1501) than visitors (1500))). Nothing was changed."
    ) in shown
    drafts = [json.loads(clean_redis.get(k)) for k in clean_redis.scan_iter(match=f"mida:{{{TEAM}}}:draft:*".encode())]
    assert len(drafts) == 1 and drafts[0]["evidence"] is None
    assert mida_sandbox.writes() == []
    assert audit_events(clean_redis) == ["connected"]


def test_impossible_totals_are_refused_too(connected, slack, slack_api, mida_sandbox):
    mida_sandbox.fault(method="GET", path_contains="/experiment/1234/result", answer_merge={"total_conversions": 99999})
    answer = reply(slack, slack_api, "results 1234")
    assert "the total has more conversions (99999) than visitors (2980)" in answer["text"]


def test_impossible_counts_read_just_before_the_write_fail_the_request_and_send_nothing(
    connected, slack, slack_api, mida_sandbox, clean_redis
):
    view = open_change_modal(slack, slack_api, "serve-winner 1234 1 25")
    mida_sandbox.fault(method="GET", path_contains="/experiment/1234/result", answer_merge={"variants": [{}, {"visitors": -1}]})
    assert "errors" not in submit_change(slack, view, variant="1", rollout="25").text
    card = final_card(slack_api, "Failed")
    assert outcome_section(card) == (
        "Mida answered with something the bot could not use (Mida's answer has numbers that cannot be right "
        "(variant 1 has a negative count (-1 visitors, 148 conversions))). Nothing was changed. Try again in a "
        "minute; if it keeps happening, look at the experiment in Mida's dashboard."
    )
    record, entry = settled(clean_redis)
    assert (record["status"], entry["event"], entry["outcome"]["failure"]["kind"]) == ("failed", "failed", "unreadable")
    assert entry["outcome"]["state_after"] is None  # the impossible numbers are not kept
    assert mida_sandbox.writes() == []
    assert followups(connected, 1234) == []


def test_a_follow_up_with_impossible_counts_is_not_posted_but_kept_for_later(
    connected, slack, slack_api, mida_sandbox, clean_redis
):
    from bot.domain import ApprovalMode, ChannelRules

    connected.run(connected.deps.rules.save(TeamRef(team_id=TEAM), None, ChannelRules(mode=ApprovalMode.OFF, followup_hours=[1 / 3600]), []))
    change(slack, slack_api, "serve-winner 1234 1 25", variant="1", rollout="25")
    final_card(slack_api, "Done")
    mida_sandbox.fault(method="GET", path_contains="/experiment/1234/result", answer_merge={"variants": [{"visitors": -7}]})
    wait_until(
        lambda: any(r["query"].get("report_phase") == "post_deploy" for r in mida_sandbox.requests(path_contains="/result")),
        what="the follow-up reading the post-deploy numbers",
    )
    time.sleep(0.5)
    posts = slack_api.calls("chat.postMessage")
    assert [p for p in posts if "after serving" in json.dumps(p.params)] == []
    assert len(followups(connected, 1234)) == 1  # postponed by its lease, not dropped
