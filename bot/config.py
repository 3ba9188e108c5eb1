"""Settings, read once from the environment (and `.env`)."""

from __future__ import annotations

from typing import Literal

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

WHERE_TO_GET = {
    "SLACK_SIGNING_SECRET": "Slack app settings → Basic Information → App Credentials → Signing Secret",
    "SLACK_BOT_TOKEN": "Slack app settings → OAuth & Permissions → Bot User OAuth Token (xoxb-…)",
    "SLACK_APP_TOKEN": "Slack app settings → Basic Information → App-Level Tokens (xapp-…, scope connections:write)",
    "SLACK_CLIENT_ID": "Slack app settings → Basic Information → App Credentials",
    "SLACK_CLIENT_SECRET": "Slack app settings → Basic Information → App Credentials",
    "BOT_ENCRYPTION_KEYS": "run `mida-slack keygen` and paste its output",
    "PUBLIC_URL": "the https address where Slack reaches this bot, e.g. https://mida-bot.example.com",
}


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    SLACK_SIGNING_SECRET: SecretStr | None = None
    SLACK_BOT_TOKEN: SecretStr | None = None
    SLACK_CLIENT_ID: str | None = None
    SLACK_CLIENT_SECRET: SecretStr | None = None
    SLACK_APP_TOKEN: SecretStr | None = None
    SLACK_API_URL: str = "https://slack.com/api/"
    REDIS_URL: str = "redis://localhost:6379/0"
    # Without REDIS_URL: the port where a local Redis is looked for on localhost, and where the
    # embedded one (bot/embedded_redis.py) listens, with its data in MIDA_DATA_DIR, if none answers.
    MIDA_EMBEDDED_REDIS_PORT: int = Field(default=6379, gt=0, lt=65536)
    MIDA_DATA_DIR: str = ".mida-data"
    MIDA_API_URL: str = "https://api-{region}.mida.so/v2"
    MIDA_DASHBOARD_URL: str = "https://app.mida.so/project/{project_key}/"
    BOT_ENCRYPTION_KEYS: SecretStr | None = None
    PUBLIC_URL: str | None = None
    LOG_LEVEL: str = Field(default="INFO")
    # `json`: one JSON object per line (bot/logs.py); `text`: one readable line per record.
    LOG_FORMAT: Literal["text", "json"] = "text"
    # Where `mida-slack worker` serves /metrics, /healthz and /readyz (the web processes serve them
    # on PORT). Two workers on one machine need a port each.
    MIDA_METRICS_PORT: int = Field(default=9464, gt=0, lt=65536)
    # Timings of the execution queue and the Mida client. The defaults are for production; the fault
    # tests shorten them. A queued change is taken over from a process that has not touched it for
    # MIDA_JOB_STALE_AFTER_MS (a running job is touched every third of that, so only a dead or frozen
    # process loses it); the queue is swept for such jobs and expired requests every
    # MIDA_WORKER_SWEEP_SECONDS. One Mida call waits at most MIDA_READ_TIMEOUT_SECONDS for an answer
    # and MIDA_TOTAL_TIMEOUT_SECONDS in all (retries included).
    MIDA_JOB_STALE_AFTER_MS: int = Field(default=60_000, ge=100)
    # Reads after the ack (/mida results, status, list, audit) a process that acks runs itself at
    # once (while its loop runs late: a quarter in plain serve, none with --no-worker); past that
    # many they wait: in the process in plain `serve`, in the queue with `--no-worker`
    # (bot/slack/headroom.py). 0: every read through the queue. Each read is a few ms of CPU between waits: 4 keep the CPU busy, more only
    # make the acks wait behind them (bench/roundtrip.py at twice capacity: ack p99 50 ms with 4,
    # 235 ms with 16).
    MIDA_LOCAL_READS: int = Field(default=4, ge=0)
    MIDA_LOCAL_READS_IN_FLIGHT: int = Field(default=200, ge=1)
    MIDA_WORKER_SWEEP_SECONDS: float = Field(default=5.0, gt=0)
    # The shortest time between two steps of a ramp (`/mida ramp ... every <N><s|m|h|d>`).
    MIDA_RAMP_MIN_INTERVAL_SECONDS: float = Field(default=3600.0, gt=0)
    # Watches: how often a watched experiment is read, how long the bot watches a winner it served
    # for a regression, after how long unreachable Mida is said, and the reads a workspace's
    # watches may make a minute; `/mida watch all` watches at most MIDA_WATCH_ALL_LIMIT experiments.
    MIDA_WATCH_INTERVAL_SECONDS: float = Field(default=900.0, gt=0)
    MIDA_WATCH_AFTER_SERVE_HOURS: float = Field(default=168.0, ge=0)
    MIDA_WATCH_UNREACHABLE_SECONDS: float = Field(default=3600.0, gt=0)
    MIDA_WATCH_READS_PER_MINUTE: int = Field(default=60, ge=1)
    MIDA_WATCH_ALL_LIMIT: int = Field(default=50, ge=1, le=500)
    MIDA_READ_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0)
    MIDA_TOTAL_TIMEOUT_SECONDS: float = Field(default=20.0, gt=0)
    # The audit log is trimmed to this many entries and to this age, whichever comes first.
    AUDIT_MAX_ENTRIES: int = Field(default=100_000, ge=100)
    AUDIT_MAX_AGE_DAYS: float = Field(default=365, gt=0)

    @field_validator("SLACK_API_URL")
    @classmethod
    def _slash_terminated(cls, v: str) -> str:
        return v if v.endswith("/") else v + "/"

    @field_validator("PUBLIC_URL")
    @classmethod
    def _no_trailing_slash(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("LOG_LEVEL")
    @classmethod
    def _known_level(cls, v: str) -> str:
        level = v.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("LOG_FORMAT", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.lower() if isinstance(v, str) else v

    @field_validator("BOT_ENCRYPTION_KEYS")
    @classmethod
    def _fernet_keys(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None or not v.get_secret_value().strip():
            return None
        for key in v.get_secret_value().split(","):
            try:
                Fernet(key.strip())
            except (ValueError, TypeError):
                raise ValueError("each key must be a Fernet key (run `mida-slack keygen`)") from None
        return v

    @property
    def encryption_keys(self) -> list[str]:
        if self.BOT_ENCRYPTION_KEYS is None:
            return []
        return [k.strip() for k in self.BOT_ENCRYPTION_KEYS.get_secret_value().split(",") if k.strip()]

    @property
    def oauth_enabled(self) -> bool:
        return bool(self.SLACK_CLIENT_ID and self.SLACK_CLIENT_SECRET)

    def require(self, *names: str, token: bool = False) -> None:
        """Stop with a message naming every missing setting and where to get it.
        `token`: a bot token, or the OAuth client id and secret, is needed too."""
        lines = [f"  {n}: {WHERE_TO_GET.get(n, 'see README.md, Configuration')}" for n in names if not getattr(self, n)]
        if token and not (self.SLACK_BOT_TOKEN or self.oauth_enabled):
            lines.append(
                f"  SLACK_BOT_TOKEN: {WHERE_TO_GET['SLACK_BOT_TOKEN']}\n"
                "    (or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for a multi-workspace install)"
            )
        if lines:
            raise ConfigError("Missing settings (put them in .env or the environment):\n" + "\n".join(lines))

    def require_for_http(self) -> None:
        self.require("SLACK_SIGNING_SECRET", "BOT_ENCRYPTION_KEYS", "PUBLIC_URL", token=True)


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("Bad settings:\n" + "\n".join(problems)) from None
