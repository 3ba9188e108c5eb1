"""Private answers to a click on a request card that changed nothing."""

from __future__ import annotations

from bot.domain import ChangeRequest, Decision


def click_refused_text(decision: Decision, request: ChangeRequest | None) -> str:
    if request is None or decision is Decision.NOT_FOUND:
        return "This request is not known in this workspace. Nothing was changed."
    who = f"<@{request.requester.user_id}>"
    return {
        Decision.FINISHED: f"This request is already {request.status.value}; nothing more can be done with it.",
        Decision.EXPIRED: "This request has expired. Ask for the change again if it is still wanted.",
        Decision.OWN_REQUEST: "You asked for this change, so your approval does not count. Another approver has to decide.",
        Decision.ALREADY_APPROVED: "You have already approved this request; it needs another person's approval now.",
        Decision.NOT_APPROVER: "You are not one of the approvers for this channel. Ask an approver, or an admin to change `/mida settings`.",
        Decision.NOT_REQUESTER: f"Only {who}, who asked for this change, can cancel it.",
        Decision.OTHER_ORG: "Only members of this workspace can approve or reject its changes — you're in "
        "another organisation (Slack Connect). Nothing was changed.",
        Decision.GUEST: "Guests can't approve or reject changes in this workspace. Nothing was changed.",
        Decision.BOT: "Bot users can't approve or reject changes. Nothing was changed.",
        Decision.DEACTIVATED: "Deactivated accounts can't approve or reject changes. Nothing was changed.",
        Decision.UNVERIFIED: "The bot could not check who you are with Slack just now, so your click was not "
        "counted. Nothing was changed; try again in a minute.",
    }.get(decision, "Nothing was changed.")
