"""A signed Slack request body, in the form Bolt reads it right.

Bolt takes any form body that merely contains the text "payload" for an interaction
(`payload=<json>`) and, finding no such field, reads it as empty: a slash command typed in
#payload-team, in a workspace called payload-co, or with "payload" in its text would reach no
listener. A form without a `payload` field is therefore handed to Bolt as the JSON object of its
fields, which Bolt parses as is. Only ever applied after the signature check, which needs the raw
bytes.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl


def bolt_body(raw: str, content_type: str | None) -> str:
    """`raw` unchanged when Bolt parses it right (JSON, an interaction's `payload=`, empty), else
    the JSON of the form's fields (last value of a repeated field, as Bolt keeps)."""
    if not raw or content_type == "application/json" or raw.startswith("{"):
        return raw
    fields = dict(parse_qsl(raw, keep_blank_values=True))
    if "payload" in fields:
        return raw
    return json.dumps(fields)


_KINDS = {
    "block_actions": "action",
    "interactive_message": "action",
    "view_submission": "view",
    "view_closed": "view",
    "event_callback": "event",
    "shortcut": "shortcut",
    "message_action": "shortcut",
    "block_suggestion": "options",
}


def request_kind(body: dict[str, Any]) -> str:
    """What kind of Slack request a parsed body is, in a word (a metrics label): command, action,
    view, event, shortcut, options or other."""
    if "command" in body:
        return "command"
    return _KINDS.get(str(body.get("type", "")), "other")
