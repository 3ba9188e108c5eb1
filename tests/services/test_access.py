"""Who may decide, as pure logic: Access over an in-memory directory, and Person identity."""

from __future__ import annotations

import pytest

from bot.domain import Action, Change, ChangeRequest, Evidence, Person, Policy, Region, TeamRef
from bot.mida.models import ExperimentStatus
from bot.services.access import Access, Standing, standing_of
from bot.services.ports import Profile
from bot.store.policies import PolicyStore

WS = TeamRef(team_id="T1")
GRID_WS = TeamRef(team_id="T_WS", enterprise_id="E1")


@pytest.mark.parametrize(
    ("team", "profile", "guests_allowed", "expected"),
    [
        (WS, Profile("U1", "T1"), False, Standing.MEMBER),
        (WS, Profile("U1", "T_OTHER"), False, Standing.OTHER_ORG),  # Slack Connect
        (WS, Profile("U1", "T_OTHER", enterprise_id="E1"), False, Standing.OTHER_ORG),  # the workspace is no Grid
        (GRID_WS, Profile("W1", "T_HOME", enterprise_id="E1"), False, Standing.MEMBER),  # same org, home elsewhere
        (GRID_WS, Profile("W1", "T_HOME", teams=frozenset({"T_HOME", "T_WS"})), False, Standing.MEMBER),
        (GRID_WS, Profile("W1", "T_ELSE", enterprise_id="E2"), False, Standing.OTHER_ORG),  # another Grid org
        (GRID_WS, Profile("W1", "T_ELSE"), False, Standing.OTHER_ORG),
        (WS, Profile("U1", "T1", is_guest=True), False, Standing.GUEST),
        (WS, Profile("U1", "T1", is_guest=True), True, Standing.MEMBER),
        (WS, Profile("U1", "T_OTHER", is_guest=True), True, Standing.OTHER_ORG),  # the setting is for own guests
        (WS, Profile("U1", "T1", is_bot=True), True, Standing.BOT),
        (WS, Profile("U1", "T1", deleted=True), True, Standing.DEACTIVATED),
        (WS, None, True, Standing.UNKNOWN),
    ],
)
def test_standing(team, profile, guests_allowed, expected) -> None:
    assert standing_of(team, profile, guests_allowed=guests_allowed) is expected


class Directory:
    def __init__(self, *profiles: Profile, groups: dict[str, set[str]] | None = None) -> None:
        self.profiles = {p.user_id: p for p in profiles}
        self.groups = groups or {}

    async def profile(self, team: TeamRef, user_id: str) -> Profile | None:
        return self.profiles.get(user_id)

    async def usergroup_members(self, team: TeamRef, group_id: str) -> set[str]:
        return self.groups.get(group_id, set())


async def test_an_admin_must_be_a_member(redis) -> None:
    policies = PolicyStore(redis)
    await policies.save(WS, Policy(bot_admins=["U_NAMED", "U_NAMED_GUEST", "U_NAMED_OUTSIDER"]))
    access = Access(policies, Directory(
        Profile("U_ADMIN", "T1", is_admin=True),
        Profile("U_OTHER_ORG_ADMIN", "T_OTHER", is_admin=True),
        Profile("U_GONE_ADMIN", "T1", is_admin=True, deleted=True),
        Profile("U_NAMED", "T1"),
        Profile("U_NAMED_GUEST", "T1", is_guest=True),
        Profile("U_NAMED_OUTSIDER", "T_OTHER"),
        Profile("U_MEMBER", "T1"),
    ))
    assert [u for u in ("U_ADMIN", "U_OTHER_ORG_ADMIN", "U_GONE_ADMIN", "U_NAMED", "U_NAMED_GUEST",
                        "U_NAMED_OUTSIDER", "U_MEMBER", "U_UNKNOWN") if await access.is_admin(WS, u)] == [
        "U_ADMIN", "U_NAMED"]


async def test_a_grid_admin_from_the_same_organisation_is_an_admin(redis) -> None:
    access = Access(PolicyStore(redis), Directory(Profile("W_ADMIN", "T_HOME", enterprise_id="E1", is_admin=True)))
    assert await access.is_admin(GRID_WS, "W_ADMIN") is True
    assert await access.is_admin(TeamRef(team_id="T_WS", enterprise_id="E2"), "W_ADMIN") is False


async def test_may_approve_needs_a_member_other_than_the_requester(redis) -> None:
    policies = PolicyStore(redis)
    request = _request(requester=Person(user_id="UA", team_id="T_HOME"))
    access = Access(policies, Directory(Profile("UA", "T1"), Profile("UB", "T1"), Profile("UG", "T1", is_guest=True),
                                        Profile("UC", "T1"), groups={"S1": {"UC", "UG"}}))
    anyone = Policy()
    # The requester, whatever team their click names, never approves their own request.
    assert await access.may_approve(WS, anyone, request, "UA") is False
    assert await access.may_approve(WS, anyone, request, "UB") is True
    assert await access.may_approve(WS, anyone, request, "UG") is False
    assert await access.may_approve(WS, Policy(guests_may_approve=True), request, "UG") is True
    assert await access.may_approve(WS, anyone, request, "U_UNKNOWN") is False
    group = Policy(approver_group="S1")
    assert [u for u in ("UB", "UC", "UG") if await access.may_approve(WS, group, request, u)] == ["UC"]
    named = Policy(approvers=["UG", "UB"], guests_may_approve=True)
    assert [u for u in ("UB", "UC", "UG") if await access.may_approve(WS, named, request, u)] == ["UB", "UG"]


def test_a_person_is_their_user_id() -> None:
    at_home = Person(user_id="W1", team_id="T_HOME")
    in_workspace = Person(user_id="W1", team_id="T_WS")
    assert at_home == in_workspace and hash(at_home) == hash(in_workspace)
    assert Person(user_id="W2", team_id="T_HOME") != at_home
    assert at_home.model_dump() == {"user_id": "W1", "team_id": "T_HOME"}  # the team stays on record
    assert {at_home, in_workspace} == {at_home}


def _request(*, requester: Person) -> ChangeRequest:
    return ChangeRequest(
        id="r1", team=WS, project_key="p", region=Region.US, requester=requester, channel_id="C1",
        change=Change(action=Action.STOP_SERVING, test_id=1),
        evidence=Evidence(test_id=1, test_name="t", status=ExperimentStatus.LIVE),
    )
