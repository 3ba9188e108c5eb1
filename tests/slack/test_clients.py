"""Which token a workspace's Web API client carries, against the local Slack stand-in (auth.test
answers for the token it was sent), and the modal client's short timeout."""

from __future__ import annotations

import pytest

from bot.config import Settings
from bot.domain import TeamRef
from bot.slack.clients import MODAL_TIMEOUT, NoToken, SlackClients, modal_client, web_client
from standins.bot_server import bot_env

T1, T2 = TeamRef(team_id="T1"), TeamRef(team_id="T2", enterprise_id="E1")


def settings_for(slack_api, *, single_token: bool) -> Settings:  # type: ignore[no-untyped-def]
    env = bot_env(redis_url="redis://127.0.0.1:9/0", slack_api_url=slack_api.api_url, mida_api_url="http://127.0.0.1:9/")
    settings = Settings(_env_file=None, **env)  # type: ignore[call-arg]
    return settings if single_token else settings.model_copy(update={"SLACK_BOT_TOKEN": None})


async def test_one_workspace_uses_the_single_bot_token(slack_api) -> None:
    settings = settings_for(slack_api, single_token=True)
    client = await SlackClients(settings).for_team(T1)
    assert (await client.auth_test())["ok"]
    assert slack_api.last("auth.test").token == settings.SLACK_BOT_TOKEN.get_secret_value()


async def test_each_installed_workspace_uses_its_own_token(slack_api) -> None:
    tokens = {T1.key: "xoxb-T1-own", T2.key: "xoxb-T2-own"}

    async def lookup(team: TeamRef) -> str | None:
        return tokens.get(team.key)

    clients = SlackClients(settings_for(slack_api, single_token=False), lookup)
    for team in (T1, T2):
        await (await clients.for_team(team)).auth_test()
    assert [c.token for c in slack_api.calls("auth.test")] == ["xoxb-T1-own", "xoxb-T2-own"]


async def test_a_workspace_without_an_installation_has_no_client(slack_api) -> None:
    async def lookup(team: TeamRef) -> str | None:
        return None

    with pytest.raises(NoToken):
        await SlackClients(settings_for(slack_api, single_token=False), lookup).for_team(T1)
    with pytest.raises(NoToken):
        await SlackClients(settings_for(slack_api, single_token=False)).for_team(T1)


async def test_the_single_token_is_the_fallback_when_the_lookup_finds_none(slack_api) -> None:
    async def lookup(team: TeamRef) -> str | None:
        return None

    settings = settings_for(slack_api, single_token=True)
    await (await SlackClients(settings, lookup).for_team(T1)).auth_test()
    assert slack_api.last("auth.test").token == settings.SLACK_BOT_TOKEN.get_secret_value()


async def test_a_rate_limited_call_is_retried(slack_api) -> None:
    client = web_client(settings_for(slack_api, single_token=True), "xoxb-T1-x")
    slack_api.rate_limit("chat.postMessage", retry_after=0, times=2)
    assert (await client.chat_postMessage(channel="C1", text="hi"))["ok"]
    assert [c.status for c in slack_api.calls("chat.postMessage")] == [429, 429, 200]


async def test_the_modal_client_keeps_token_and_url_and_gives_up_before_the_trigger_expires(slack_api) -> None:
    client = web_client(settings_for(slack_api, single_token=True), "xoxb-T1-x")
    quick = modal_client(client)
    assert (quick.token, quick.base_url, quick.timeout) == ("xoxb-T1-x", client.base_url, MODAL_TIMEOUT)
    assert MODAL_TIMEOUT < 3  # Slack's trigger_id lives 3 s
