"""The test people: one workspace, one channel and the people in it, for the tests and the bench.

The request builders (standins/slack_requests.py) and the Slack stand-in default to them, so a
request or a Slack call that names nobody comes from Alice in TEAM's CHANNEL."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from standins.slack_api import SlackStandIn

TEAM = "T0001"
CHANNEL = "C0001"
ADMIN = "U_ADMIN"  # a workspace admin: connects the workspace and changes the settings
ALICE = "U_ALICE"  # asks for changes
BOB = "U_BOB"
CAROL = "U_CAROL"
BOT_USER = "UBOT"  # the bot's own user (auth.test)


def introduce(slack_api: SlackStandIn) -> None:
    """Tell the Slack stand-in who they are (users.info): the admin an admin, the others members."""
    slack_api.set_user(ADMIN, team_id=TEAM, is_admin=True, name="admin")
    for user in (ALICE, BOB, CAROL):
        slack_api.set_user(user, team_id=TEAM, name=user.lower())
