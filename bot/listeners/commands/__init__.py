from slack_bolt.async_app import AsyncApp

from bot.listeners.commands.mida import handle_mida_command


def register(app: AsyncApp) -> None:
    app.command("/mida")(handle_mida_command)
