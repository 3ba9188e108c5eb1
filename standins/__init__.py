"""Stand-ins for what the bot talks to, shared by tests/ and bench/ and part of neither: the Slack
Web API and Socket Mode, the Mida sandbox server, throwaway Redis servers and clusters, the bot as a
server or process, signed Slack requests, the test people and their conversations with the bot.

Never imported by bot/ and not installed with it: tests/ and bench/ import it from the repo root."""
