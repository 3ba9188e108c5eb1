"""Logging set-up: one line per record with its `extra=` fields, and secrets scrubbed.

Every secret the process holds (tokens, the signing secret, each Mida API key it has seen) is
registered with `SECRETS`; a record that would contain one is written with it replaced, whatever
library emitted it and at whatever level, in either format (`LOG_FORMAT`: readable text, or one
JSON object per line).

Each Slack request gets a correlation id (a context variable) when it arrives; the queue entries
made while handling it carry it to the process that works them, which takes it back, so every line
about one request — its ack, the work after it, the Mida calls, the execution — has the same
`correlation_id`.
"""

from __future__ import annotations

import contextvars
import json
import logging
import secrets
import sys
from datetime import UTC, datetime

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
_MASK = "[redacted]"


class SecretScrubber(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 6:
            self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, _MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        cleaned = self.scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.scrub(value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


SECRETS = SecretScrubber()


_CORRELATION: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


def new_correlation_id() -> str:
    """A fresh id for the Slack request being handled here (and what it starts)."""
    value = secrets.token_hex(8)
    _CORRELATION.set(value)
    return value


def set_correlation_id(value: str | None) -> None:
    """Take up the id of the request whose work this is (read from a queue entry)."""
    _CORRELATION.set(value if value and len(value) <= 64 else None)


def correlation_id() -> str | None:
    return _CORRELATION.get()


class CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        value = _CORRELATION.get()
        if value is not None and not hasattr(record, "correlation_id"):
            record.correlation_id = value
        return True


class LineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{k}={v!r}" for k, v in vars(record).items() if k not in _STANDARD)
        return f"{line} {extras}" if extras else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the `extra=` fields (the
    correlation id among them) and the traceback, if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line |= {k: v for k, v in vars(record).items() if k not in _STANDARD}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        # The scrubber has cleaned the message and the text fields; this also covers a secret
        # inside a list or dict field.
        return SECRETS.scrub(json.dumps(line, default=str, ensure_ascii=False))


def configure_logging(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(LineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(CorrelationFilter())
    handler.addFilter(SECRETS)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Request-by-request chatter from the HTTP libraries adds nothing our own lines lack.
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
