"""An experiment with many variants: every surface stays within Slack's block limit (a message 50,
a modal 100; the Slack stand-in refuses more, as Slack does) and says how many variants it left out."""

from __future__ import annotations

import json

import pytest

from bot.domain import ApprovalMode, ChannelRules, TeamRef
from bot.views import ids
from standins.flows import open_change_modal, submit_change
from standins.people import ALICE, CHANNEL, TEAM

MANY = 1300  # 60 variants
MORE = 1301  # 150 variants


def variants(n: int) -> list[tuple[str, int, int]]:
    """A control, a clear winner (variant 1), and the rest close to the control."""
    return [("Control", 1000, 50), ("Variant 1", 1000, 120)] + [(f"Variant {i}", 1000, 50 + i % 5) for i in range(2, n)]


@pytest.fixture
def connected(connected, mida_sandbox):
    mida_sandbox.add_experiment(MANY, variants(60), test_name="Sixty variants", days_running=10)
    mida_sandbox.add_experiment(MORE, variants(150), test_name="A hundred and fifty", days_running=10)
    return connected


def contexts(blocks: list[dict]) -> list[str]:
    return [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]


def variant_sections(blocks: list[dict]) -> list[dict]:
    return [b for b in blocks if b["type"] == "section" and "fields" in b]


def test_results_of_60_variants_are_a_message_of_50_blocks_that_counts_the_rest(connected, slack, slack_api):
    assert slack.command(f"results {MANY}", user_id=ALICE).status_code == 200
    answer = slack_api.wait_for_response("cmd")[-1]
    blocks = answer["blocks"]
    assert len(blocks) == 50
    assert blocks[0]["text"]["text"] == "Sixty variants"
    # 41 variants, the line counting the rest, then the verdict, the several-variants note and the footnote.
    assert len(variant_sections(blocks)) == 41
    assert "… and 19 more variants, left out to fit in Slack: Mida shows them all." in contexts(blocks)
    assert blocks[-4]["text"]["text"].startswith("*Verdict:* Winner: Variant 1")
    assert "59 variants against Control" in blocks[-3]["text"]["text"]
    assert contexts(blocks)[-1].startswith("Computed by the bot from Mida's counts")
    assert blocks[-1]["block_id"] == ids.RESULT_LINKS
    assert slack_api.refused_responses() == []


def test_the_confirm_modal_of_150_variants_fills_100_blocks_and_counts_the_rest(connected, slack, slack_api):
    view = open_change_modal(slack, slack_api, f"serve-winner {MORE} 1 50", user=ALICE)
    blocks = view["blocks"]
    assert len(blocks) == 100
    assert len(variant_sections(blocks)) == 88  # and the verdict, the several-variants note, the footnote
    assert "… and 62 more variants, left out to fit in Slack: Mida shows them all." in contexts(blocks)
    assert any(b.get("text", {}).get("text", "").startswith("*Verdict:*") for b in blocks)
    select = next(b for b in blocks if b.get("block_id") == ids.VARIANT)
    assert select["element"]["initial_option"]["value"] == "1"
    assert select["hint"]["text"].endswith("Only 100 of the 150 variants are listed; "
                                           "/mida serve-winner <test_id> <variant_id> opens this with any of them.")
    assert all(c.response["ok"] for c in slack_api.calls("views.update"))


def test_the_approval_card_of_60_variants_is_posted_and_counts_the_rest(connected, slack, slack_api):
    view = open_change_modal(slack, slack_api, f"serve-winner {MANY} 1 50", user=ALICE)
    # 59 variants against the control: a warning (the best of several is overstated), so a reason.
    assert submit_change(slack, view, variant="1", rollout="50", reason="Picked from sixty").text == ""
    card = slack_api.wait_for("chat.postMessage", predicate=lambda c: c["channel"] == CHANNEL)[-1]
    assert card.response["ok"] is True
    lines = next(b["text"]["text"] for b in card["blocks"] if "*Variant 1*" in b.get("text", {}).get("text", ""))
    shown = lines.splitlines()[:-1]
    assert lines.splitlines()[-1] == f"… and {60 - len(shown)} more variants"
    assert 10 < len(shown) < 60


def test_a_follow_up_of_60_variants_keeps_its_buttons_within_50_blocks(connected, bot, slack, slack_api):
    bot.run(bot.deps.rules.save(TeamRef(team_id=TEAM), None, ChannelRules(mode=ApprovalMode.OFF, followup_hours=[1 / 3600]), []))
    view = open_change_modal(slack, slack_api, f"serve-winner {MANY} 1 30", user=ALICE)
    assert submit_change(slack, view, variant="1", rollout="30", reason="Picked from sixty").text == ""
    followup = slack_api.wait_for(
        "chat.postMessage",
        predicate=lambda c: c.get("thread_ts") and "after serving" in json.dumps(c.params),
        timeout=15,
    )[-1]
    blocks = followup["blocks"]
    assert followup.response["ok"] is True
    assert len(blocks) == 50
    assert len(variant_sections(blocks)) == 39  # and the verdict, the several-variants note, the footnote
    assert "… and 21 more variants, left out to fit in Slack: Mida shows them all." in contexts(blocks)
    assert [b.get("block_id") for b in blocks[-2:]] == [ids.RESULT_LINKS, ids.FOLLOWUP_ACTIONS]
