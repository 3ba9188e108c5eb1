from slack_bolt.async_app import AsyncApp

from bot.listeners.commands.mida import ack_mida_command, run_mida_command

MIDA_COMMAND = "/mida"


def register(app: AsyncApp) -> None:
    app.command(MIDA_COMMAND)(ack=ack_mida_command, lazy=[run_mida_command])
