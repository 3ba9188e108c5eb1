from slack_bolt.async_app import AsyncApp

from bot.listeners.commands.mida import ack_mida_command, run_mida_command


def register(app: AsyncApp) -> None:
    app.command("/mida")(ack=ack_mida_command, lazy=[run_mida_command])
