"""SlackDirectory against the Slack stand-in: users.info read into a Profile, cached briefly, and
nothing cached (or invented) when Slack does not answer."""

from __future__ import annotations

from pydantic import SecretStr

from bot.config import Settings
from bot.domain import TeamRef
from bot.services.ports import Profile
from bot.slack import directory
from bot.slack.clients import SlackClients
from bot.slack.directory import SlackDirectory
from standins.slack_api import SlackStandIn

TEAM = TeamRef(team_id="T0001")


def slack_directory(slack_api: SlackStandIn, *, token: str | None = "xoxb-T0001-test") -> SlackDirectory:
    settings = Settings(_env_file=None, SLACK_API_URL=slack_api.api_url,  # type: ignore[call-arg]
                        SLACK_BOT_TOKEN=SecretStr(token) if token else None)
    return SlackDirectory(SlackClients(settings))


async def test_a_member_a_guest_and_a_grid_member_as_slack_describes_them(slack_api: SlackStandIn) -> None:
    slack_api.set_user("U_ADMIN", team_id="T0001", is_owner=True)
    slack_api.set_user("U_GUEST", team_id="T0001", is_ultra_restricted=True)
    slack_api.set_user("W_GRID", team_id="T_HOME", enterprise_id="E1", teams=["T_HOME", "T0001"])
    found = slack_directory(slack_api)
    assert await found.profile(TEAM, "U_ADMIN") == Profile(user_id="U_ADMIN", team_id="T0001", is_admin=True)
    assert await found.profile(TEAM, "U_GUEST") == Profile(user_id="U_GUEST", team_id="T0001", is_guest=True)
    assert await found.profile(TEAM, "W_GRID") == Profile(
        user_id="W_GRID", team_id="T_HOME", enterprise_id="E1", teams=frozenset({"T_HOME", "T0001"})
    )


async def test_bots_and_deactivated_accounts(slack_api: SlackStandIn) -> None:
    slack_api.set_user("U_BOTUSER", is_bot=True)
    slack_api.set_user("U_GONE", deleted=True)
    found = slack_directory(slack_api)
    assert await found.profile(TEAM, "U_BOTUSER") == Profile(user_id="U_BOTUSER", team_id="T0001", is_bot=True)
    assert await found.profile(TEAM, "U_GONE") == Profile(user_id="U_GONE", team_id="T0001", deleted=True)


async def test_a_profile_is_cached_for_a_minute_per_workspace(slack_api: SlackStandIn, monkeypatch) -> None:
    slack_api.set_user("U_BOB")
    found = slack_directory(slack_api)
    now = [1000.0]
    monkeypatch.setattr(directory.time, "monotonic", lambda: now[0])
    await found.profile(TEAM, "U_BOB")
    now[0] += 59
    slack_api.set_user("U_BOB", deleted=True)  # Slack changed its mind: not seen within the minute
    assert (await found.profile(TEAM, "U_BOB")).deleted is False
    assert len(slack_api.calls("users.info")) == 1
    await found.profile(TeamRef(team_id="T0001", enterprise_id="E1"), "U_BOB")  # another workspace key
    assert len(slack_api.calls("users.info")) == 2
    now[0] += 2
    assert (await found.profile(TEAM, "U_BOB")).deleted is True
    assert len(slack_api.calls("users.info")) == 3


async def test_no_answer_is_none_and_is_not_cached(slack_api: SlackStandIn) -> None:
    slack_api.set_user("U_BOB")
    found = slack_directory(slack_api)
    slack_api.fail("users.info", "internal_error")
    assert await found.profile(TEAM, "U_BOB") is None
    assert await found.profile(TEAM, "U_NOBODY") is None  # user_not_found
    assert await found.profile(TEAM, "U_BOB") == Profile(user_id="U_BOB", team_id="T0001")


async def test_slack_unreachable_or_no_token_is_none(slack_api: SlackStandIn) -> None:
    assert await slack_directory(slack_api, token=None).profile(TEAM, "U_BOB") is None
    port = slack_api.port
    slack_api.stop()
    settings = Settings(_env_file=None, SLACK_API_URL=f"http://127.0.0.1:{port}/api/",  # type: ignore[call-arg]
                        SLACK_BOT_TOKEN=SecretStr("xoxb-T0001-test"))
    assert await SlackDirectory(SlackClients(settings)).profile(TEAM, "U_BOB") is None
