"""Inputs for the Block Kit builder tests, and a walker that checks Slack's limits on their output."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.domain import (
    Action,
    Approval,
    Change,
    ChangeRequest,
    Draft,
    Evidence,
    Outcome,
    Person,
    Region,
    RequestStatus,
    TeamRef,
)
from bot.mida.models import ExperimentResult, ExperimentStatus, VariantResult
from bot.views.format import Links

TEAM = TeamRef(team_id="T0001")
ALICE = Person(user_id="UALICE", team_id="T0001")
BOB = Person(user_id="UBOB", team_id="T0001")
CAROL = Person(user_id="UCAROL", team_id="T0001")
NOW = 1_700_000_000.0
LINKS = Links(results_url="https://bot.example.com/results/tok123", dashboard_url="https://app.mida.so/project/pk/")


def control(**kw: Any) -> VariantResult:
    data = dict(variant_id="0", name="Control", visitors=10_000, conversions=800, conversion_rate=8.0, is_control=True)
    data.update(kw)
    return VariantResult(**data)


def variant(variant_id: str = "1", **kw: Any) -> VariantResult:
    data = dict(
        variant_id=variant_id,
        name=f"Variant {variant_id}",
        visitors=12_345,
        conversions=1_234,
        conversion_rate=10.0,
        improvement=25.0,
    )
    data.update(kw)
    return VariantResult(**data)


def result(
    *,
    name: str = "Homepage CTA Button Color Test",
    variants: list[VariantResult] | None = None,
    serving: str | None = None,
    rollout: float | None = 100,
    status: ExperimentStatus = ExperimentStatus.LIVE,
    days: int | None = 14,
    **statistics: Any,
) -> ExperimentResult:
    """`statistics`: stats_engine, confidence_threshold_percent, is_mab, has_revenue, currency."""
    return ExperimentResult(
        **statistics,
        test_id=1234,
        test_name=name,
        status=status,
        days_running=days,
        serving_variant_id=serving,
        is_serving=serving is not None,
        traffic_allocation=rollout,
        variants=variants if variants is not None else [control(), variant("1")],
    )


def many_variants(n: int, *, long: bool = False) -> list[VariantResult]:
    rows = [control(name="Control " + "x" * 300 if long else "Control")]
    for i in range(1, n):
        name = f"Variant {i} " + ("<script>alert(1)</script> very long name " * 10 if long else "")
        rows.append(variant(str(i), name=name.strip(), visitors=1_000_000 + i, improvement=-3.21 if i % 2 else 4.5))
    return rows


def evidence(**kw: Any) -> Evidence:
    ev = Evidence.from_result(result(**kw))
    return ev.model_copy(update={"taken_at": NOW - 3600})


def draft(action: Action = Action.SERVE_WINNER, **kw: Any) -> Draft:
    ev = kw.pop("evidence") if "evidence" in kw else evidence()
    data: dict[str, Any] = dict(
        id="draft-123",
        team=TEAM,
        requester=ALICE,
        channel_id="C0001",
        action=action,
        test_id=1234,
        evidence=ev,
        variant_id="1" if action is Action.SERVE_WINNER else None,
        rollout=25.0 if action is not Action.STOP_SERVING else None,
    )
    data.update(kw)
    return Draft(**data)


def request(
    status: RequestStatus = RequestStatus.PENDING,
    *,
    change: Change | None = None,
    ev: Evidence | None = None,
    **kw: Any,
) -> ChangeRequest:
    data: dict[str, Any] = dict(
        id="req-abc",
        team=TEAM,
        project_key="pk",
        region=Region.US,
        change=change or Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1", rollout=25),
        requester=ALICE,
        reason="Variant 1 wins clearly",
        evidence=ev or evidence(),
        channel_id="C0001",
        status=status,
        approvals_needed=2,
        approvals=[Approval(approver=BOB, at=NOW - 60)],
        created_at=NOW - 600,
        expires_at=NOW + 86_400,
    )
    data.update(kw)
    return ChangeRequest(**data)


def served_outcome(**kw: Any) -> Outcome:
    data: dict[str, Any] = dict(
        ok=True,
        mida_status=200,
        mida_body={
            "success": True,
            "test_id": 1234,
            "serving_variant_id": "1",
            "traffic_allocation": 25,
            "is_serving": True,
            "message": "Winner is now served to eligible traffic at the configured rollout percentage.",
        },
        at=NOW,
    )
    data.update(kw)
    return Outcome(**data)


# --- Slack's limits -----------------------------------------------------------------------------


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from _objects(item)


def texts(node: Any) -> list[str]:
    """Every text a person could read in a view or blocks."""
    return [o["text"] for o in _objects(node) if o.get("type") in ("plain_text", "mrkdwn") and "text" in o]


def all_text(node: Any) -> str:
    return "\n".join(texts(node))


def find_block(blocks: list[dict[str, Any]], block_id: str) -> dict[str, Any]:
    return next(b for b in blocks if b.get("block_id") == block_id)


def elements(blocks: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [o for o in _objects(blocks) if o.get("type") == type_]


def check_blocks(blocks: list[dict[str, Any]], max_blocks: int) -> None:
    """Assert Slack's limits on a list of blocks: at most 50 in a message, 100 in a modal or Home tab."""
    assert 0 < len(blocks) <= max_blocks, len(blocks)
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(block_ids) == len(set(block_ids)), block_ids
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            assert block["text"]["type"] == "plain_text"
            assert len(block["text"]["text"]) <= 150
        if kind == "section":
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            for field in block.get("fields", []):
                assert 0 < len(field["text"]) <= 2000
        if kind == "context":
            assert 0 < len(block["elements"]) <= 10
        if kind == "actions":
            assert 0 < len(block["elements"]) <= 25
            action_ids = [e["action_id"] for e in block["elements"]]
            assert len(action_ids) == len(set(action_ids))
        if kind == "input":
            assert len(block["label"]["text"]) <= 2000
            if "hint" in block:
                assert len(block["hint"]["text"]) <= 2000
        # slack_sdk's own models know the limits too: let them check every block.
        Block.parse(block).validate_json()
    for obj in _objects(blocks):
        if obj.get("type") == "button":
            assert len(obj["text"]["text"]) <= 75
            assert len(obj.get("value", "")) <= 2000
            assert len(obj.get("url", "")) <= 3000
        if "options" in obj and isinstance(obj["options"], list):
            assert len(obj["options"]) <= 100
            for opt in obj["options"]:
                assert len(opt["text"]["text"]) <= 75, opt["text"]["text"]
                assert len(opt["value"]) <= 150
            if "initial_option" in obj:
                assert obj["initial_option"] in obj["options"]
        if obj.get("type") == "plain_text_input":
            max_length = obj.get("max_length", 3000)
            assert max_length <= 3000
            assert len(obj.get("initial_value", "")) <= max_length
        if "placeholder" in obj and isinstance(obj["placeholder"], dict):
            assert len(obj["placeholder"]["text"]) <= 150


def check_message(message: tuple[str, list[dict[str, Any]]]) -> tuple[str, list[dict[str, Any]]]:
    text, blocks = message
    assert isinstance(text, str) and text
    check_blocks(blocks, 50)
    return message


def check_view(view: dict[str, Any]) -> dict[str, Any]:
    assert view["type"] == "modal"
    assert len(view["title"]["text"]) <= 24
    for key in ("submit", "close"):
        if key in view:
            assert len(view[key]["text"]) <= 24
    assert len(view.get("private_metadata", "")) <= 3000
    assert len(view["callback_id"]) <= 255
    check_blocks(view["blocks"], 100)
    View(**view).validate_json()
    return view
