"""Each surface within its own block limit: a message 50, a modal or the Home tab 100; what does
not fit is counted in the last line."""

from __future__ import annotations

import pytest

from bot.domain import Action
from bot.mida.models import ReportPhase
from bot.views import ids
from bot.views.cards import request_card
from bot.views.followups import followup_message
from bot.views.format import more_variants
from bot.views.messages import results_message
from bot.views.modals import change_modal
from tests.views import (
    LINKS,
    NOW,
    check_message,
    check_view,
    draft,
    evidence,
    find_block,
    many_variants,
    request,
    result,
)


def variant_sections(blocks: list[dict]) -> list[dict]:
    return [b for b in blocks if b["type"] == "section" and "fields" in b]


def test_a_results_message_with_45_variants_shows_them_all_in_50_blocks():
    _, blocks = check_message(results_message(result(variants=many_variants(45)), ReportPhase.ALL_TIME, LINKS))
    assert len(blocks) == 50
    assert len(variant_sections(blocks)) == 45
    assert blocks[-1]["block_id"] == ids.RESULT_LINKS


@pytest.mark.parametrize(("n", "left_out"), [(46, 2), (60, 16)])
def test_a_results_message_with_more_variants_counts_the_ones_left_out(n, left_out):
    _, blocks = check_message(results_message(result(variants=many_variants(n)), ReportPhase.ALL_TIME, LINKS))
    assert len(blocks) == 50
    assert len(variant_sections(blocks)) == 44
    assert blocks[-2] == {"type": "context", "elements": [{"type": "mrkdwn", "text": more_variants(left_out)}]}
    assert more_variants(left_out) == f"… and {left_out} more variants, left out to fit in Slack: Mida shows them all."
    assert blocks[-1]["block_id"] == ids.RESULT_LINKS


def test_one_variant_left_out_is_said_in_the_singular():
    assert more_variants(1) == "… and 1 more variant, left out to fit in Slack: Mida shows them all."


@pytest.mark.parametrize("serving", ["1", None])
def test_a_follow_up_keeps_its_intro_links_and_buttons_within_50_blocks(serving):
    res = result(variants=many_variants(60), serving=serving, rollout=25)
    _, blocks = check_message(followup_message(res, 24, LINKS))
    own = 2 if serving else 1
    assert len(blocks) == 50
    assert blocks[0]["text"]["text"].startswith(":bar_chart: *24 hours after serving*")
    assert len(variant_sections(blocks)) == 44 - own
    assert find_block(blocks, ids.RESULT_LINKS)
    assert (blocks[-1]["block_id"] == ids.FOLLOWUP_ACTIONS) is bool(serving)


def test_the_serve_modal_with_150_variants_fills_100_blocks_and_counts_the_rest():
    view = check_view(change_modal(draft(Action.SERVE_WINNER, evidence=evidence(variants=many_variants(150))), []))
    blocks = view["blocks"]
    assert len(blocks) == 100  # 3 about the experiment, 2 headings, 91 variants, the count, 3 inputs
    assert len(variant_sections(blocks)) == 91
    assert more_variants(59) in [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]
    select = find_block(blocks, ids.VARIANT)
    assert len(select["element"]["options"]) == 100
    assert select["hint"]["text"] == (
        "Conversion rate · lift vs control · visitors. Only 100 of the 150 variants are listed; "
        "/mida serve-winner <test_id> <variant_id> opens this with any of them."
    )


def test_the_variant_named_in_the_command_can_be_picked_beyond_the_first_100():
    view = check_view(change_modal(draft(Action.SERVE_WINNER, variant_id="120",
                                         evidence=evidence(variants=many_variants(150))), []))
    element = find_block(view["blocks"], ids.VARIANT)["element"]
    assert element["initial_option"]["value"] == "120"
    assert [o["value"] for o in element["options"]] == [str(i) for i in range(99)] + ["120"]


def test_the_card_with_60_variants_is_a_short_message_that_counts_the_rest():
    _, blocks = check_message(request_card(request(ev=evidence(variants=many_variants(60))), LINKS, NOW))
    assert len(blocks) == 8
    lines = next(t for b in blocks if "*Variant 1*" in (t := b.get("text", {}).get("text", "")))
    shown = len(lines.splitlines()) - 1
    assert lines.splitlines()[-1] == f"… and {60 - shown} more variants"
