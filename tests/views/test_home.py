"""The App Home tab builder, on its dict output."""

from __future__ import annotations

from slack_sdk.models.views import View

from bot.domain import Action, Approval, AuditEntry, AuditEvent, Change, Outcome, Person, Region
from bot.services.errors import MidaDown, NotConnected, ReconnectNeeded
from bot.services.home_data import Connection, HomeData, HomeShared, ServingNow
from bot.views import ids
from bot.views.home import home_view, serving_block_id
from tests.views import ALICE, BOB, NOW, TEAM, all_text, check_blocks, control, elements, find_block, request, variant

CONNECTION = Connection(
    project_key="sandbox-project",
    region=Region.EU,
    masked_key="••••5680",
    connected_by=Person(user_id="UADMIN", team_id="T0001"),
    connected_at=NOW - 86_400,
    last_ok_at=NOW - 60,
    last_error="MidaUnavailable: connection refused",
    last_error_at=NOW - 3600,
)
SERVING = [
    ServingNow(test_id=1237, name="Free Shipping Banner Test", variant_id="1", rollout=50, since=NOW - 3 * 86_400,
               variants=(control(), variant("1", name="Sticky banner"))),
    ServingNow(test_id=1240, name="Footer", variant_id="2", rollout=None, since=None),
]


def data(*, is_admin: bool = False, connection: Connection | None = CONNECTION, serving=None, serving_error=None,
         connection_error=None, mine=None, waiting=None, recent=None) -> HomeData:
    shared = HomeShared(
        team=TEAM,
        connection=connection,
        connection_error=connection_error,
        serving=SERVING if serving is None else serving,
        serving_error=serving_error,
        pending=[],
        recent=recent or [],
        generated_at=NOW,
    )
    return HomeData(shared=shared, viewer=ALICE.user_id, is_admin=is_admin, mine=mine or [], waiting_on_me=waiting or [])


def check(view: dict) -> dict:
    assert view["type"] == "home"
    check_blocks(view["blocks"], 100)
    View(**view).validate_json()
    return view


def buttons(view: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for b in elements(view["blocks"], "button"):
        found.setdefault(b["action_id"], []).append(b.get("value", ""))
    return found


def test_health_shows_project_region_masked_key_last_call_and_last_error():
    view = check(home_view(data()))
    health = all_text(find_block(view["blocks"], ids.HOME_HEALTH))
    assert "sandbox-project" in health and "EU" in health and "••••5680" in health and "<@UADMIN>" in health
    text = all_text(view)
    assert "Last successful Mida call <!date^" in text
    assert "connection refused" in text  # an older error is still shown, without the warning sign
    newer_error = Connection(**{**CONNECTION.__dict__, "last_error_at": NOW})
    assert ":warning: Last error" in all_text(home_view(data(connection=newer_error)))


def test_admins_get_connect_and_settings_and_others_do_not():
    admin = check(home_view(data(is_admin=True)))
    assert ids.HOME_CONNECT in buttons(admin) and ids.HOME_SETTINGS in buttons(admin)
    assert find_block(admin["blocks"], ids.HOME_ADMIN)
    member = check(home_view(data(is_admin=False)))
    assert ids.HOME_CONNECT not in buttons(member) and ids.HOME_SETTINGS not in buttons(member)
    assert not [b for b in member["blocks"] if b.get("block_id") == ids.HOME_ADMIN]


def test_serving_rows_carry_stop_and_change_rollout_with_the_test_id():
    view = check(home_view(data()))
    row = all_text(find_block(view["blocks"], serving_block_id(1237)))
    assert "Free Shipping Banner Test" in row and "#1237" in row and "Sticky banner" in row
    assert "50 %" in row and "since <!date^" in row
    footer = all_text(find_block(view["blocks"], serving_block_id(1240)))
    assert footer.endswith("Serving variant `2`")  # no rollout or date known: none shown
    found = buttons(view)
    assert found[ids.HOME_STOP_SERVING] == ["1237", "1240"]
    assert found[ids.HOME_CHANGE_ROLLOUT] == ["1237", "1240"]


def test_a_mida_failure_is_explained_and_the_rest_still_shows():
    view = check(home_view(data(serving=[], serving_error=MidaDown("timed out"))))
    text = all_text(view)
    assert "could not be read from Mida" in text
    assert ids.HOME_STOP_SERVING not in buttons(view)
    assert find_block(view["blocks"], ids.HOME_RECENT) and find_block(view["blocks"], ids.HOME_HEALTH)
    unreadable = check(home_view(data(connection=None, connection_error=ReconnectNeeded("x"))))
    assert "refused the stored API key" in all_text(unreadable) and "/mida connect again" in all_text(unreadable)


def test_not_connected_says_who_can_connect():
    member = all_text(check(home_view(data(connection=None, serving=[]))))
    assert "not connected" in member and "/mida connect" in member
    admin = check(home_view(data(connection=None, serving=[], is_admin=True)))
    assert "Click *Connect*" in all_text(admin)
    connect = next(b for b in elements(admin["blocks"], "button") if b["action_id"] == ids.HOME_CONNECT)
    assert connect["text"]["text"] == "Connect" and connect["style"] == "primary"
    reconnect = next(b for b in elements(home_view(data(is_admin=True))["blocks"], "button") if b["action_id"] == ids.HOME_CONNECT)
    assert reconnect["text"]["text"] == "Reconnect"


def test_pending_approvals_mine_and_waiting_on_me():
    waiting = request(id="req-w", requester=BOB, approvals=[], approvals_needed=1)
    mine = request(id="req-m")
    view = check(home_view(data(waiting=[waiting], mine=[mine])))
    waiting_text = all_text(find_block(view["blocks"], ids.HOME_WAITING))
    assert "Waiting on you* (1)" in waiting_text and "<@UBOB> asks to serve" in waiting_text
    assert "0 of 1 approvals" in waiting_text and "<#C0001>" in waiting_text and "expires <!date^" in waiting_text
    mine_text = all_text(find_block(view["blocks"], ids.HOME_MINE))
    assert "1 of 2 approvals" in mine_text and "asks to" not in mine_text
    empty = check(home_view(data()))
    assert "Nothing is waiting on you." in all_text(find_block(empty["blocks"], ids.HOME_WAITING))
    assert "no pending requests" in all_text(find_block(empty["blocks"], ids.HOME_MINE))


def test_last_actions_from_the_audit_log():
    recent = [
        AuditEntry(event=AuditEvent.EXECUTED, at=NOW - 10, test_id=1234,
                   change=Change(action=Action.STOP_SERVING, test_id=1234), outcome=Outcome(ok=True)),
        AuditEntry(event=AuditEvent.APPROVED, at=NOW - 20, actor=BOB, test_id=1234,
                   change=Change(action=Action.SERVE_WINNER, test_id=1234, variant_id="1", rollout=25)),
        AuditEntry(event=AuditEvent.CANCELLED, at=NOW - 30, test_id=1234, detail={"cause": "app_uninstalled"}),
    ]
    text = all_text(find_block(check(home_view(data(recent=recent)))["blocks"], ids.HOME_RECENT))
    assert "*Done:* stop serving" in text and "<@UBOB> approved serve" in text
    assert "(app uninstalled)" in text
    assert "Nothing recorded yet." in all_text(home_view(data()))


def test_many_rows_stay_within_slack_limits():
    serving = [ServingNow(test_id=3000 + i, name="<b>x</b> " * 40, variant_id="1", rollout=10, since=NOW)
               for i in range(80)]
    many = [request(id=f"req-{i}", requester=BOB, approvals=[Approval(approver=ALICE, at=NOW)]) for i in range(10)]
    recent = [AuditEntry(event=AuditEvent.REQUESTED, at=NOW, actor=ALICE, reason="r" * 3000, test_id=i,
                         change=Change(action=Action.UPDATE_ROLLOUT, test_id=i, rollout=50)) for i in range(8)]
    view = check(home_view(data(serving=serving, waiting=many, mine=many, recent=recent, is_admin=True)))
    assert len(view["blocks"]) <= 100
    assert "more serving" in all_text(view)
    assert find_block(view["blocks"], ids.HOME_RECENT)  # the last sections are never cut off
    assert "<b>" not in all_text(view)


def test_not_connected_error_value_is_worded():
    view = check(home_view(data(serving=[], serving_error=NotConnected())))
    assert "/mida connect" in all_text(view)
