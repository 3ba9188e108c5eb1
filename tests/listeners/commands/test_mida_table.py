"""`/mida`'s dispatch table: every command the parser knows is answered, by the ack or by a handler."""

from __future__ import annotations

from bot.listeners.commands.mida import HANDLERS
from bot.listeners.commands.parser import USAGE


def test_every_command_but_help_has_a_handler() -> None:
    assert set(HANDLERS) == set(USAGE) - {"help"}
