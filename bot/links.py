"""Signed, expiring links to the bot's own pages (post-deploy results, audit export).

A token names the workspace and what it shows, and carries its expiry; it is signed with HMAC-SHA256
under a key derived from each of BOT_ENCRYPTION_KEYS (the first signs, all verify: rotation). No
secret and no API key is in the URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.domain import TeamRef

DEFAULT_TTL = 30 * 24 * 3600


class BadLink(Exception):
    """Tampered, malformed or signed with a key no longer configured."""


class ExpiredLink(Exception):
    pass


@dataclass(frozen=True)
class LinkTarget:
    team: TeamRef
    kind: str  # "results" or "audit"
    test_id: int | None
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"mida-slack links v1").derive(key.encode())


class LinkSigner:
    def __init__(self, keys: list[str], public_url: str | None, *, ttl: float = DEFAULT_TTL) -> None:
        if not keys:
            raise ValueError("at least one key is needed to sign links")
        self._keys = [_derive(k) for k in keys]
        self._public_url = public_url
        self._ttl = ttl

    def token(self, team: TeamRef, kind: str, test_id: int | None = None, *, ttl: float | None = None) -> str:
        claims = {"t": team.team_id, "k": kind, "x": int(time.time() + (ttl or self._ttl))}
        if team.enterprise_id:
            claims["e"] = team.enterprise_id
        if test_id is not None:
            claims["i"] = test_id
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{body}.{_b64(hmac.new(self._keys[0], body.encode(), hashlib.sha256).digest())}"

    def url(self, team: TeamRef, kind: str, test_id: int | None = None, *, ttl: float | None = None) -> str | None:
        if self._public_url is None:
            return None
        path = "results" if kind == "results" else "audit"
        return f"{self._public_url}/{path}/{self.token(team, kind, test_id, ttl=ttl)}"

    def results_url(self, team: TeamRef, test_id: int) -> str | None:
        return self.url(team, "results", test_id)

    def verify(self, token: str, kind: str, *, now: float | None = None) -> LinkTarget:
        body, _, signature = token.partition(".")
        if not body or not signature or len(token) > 1024:
            raise BadLink("malformed")
        try:
            given = _unb64(signature)
        except (ValueError, TypeError):
            raise BadLink("malformed") from None
        if not any(
            hmac.compare_digest(given, hmac.new(key, body.encode(), hashlib.sha256).digest()) for key in self._keys
        ):
            raise BadLink("bad signature")
        try:
            claims = json.loads(_unb64(body))
            target = LinkTarget(
                team=TeamRef(team_id=str(claims["t"]), enterprise_id=claims.get("e")),
                kind=str(claims["k"]),
                test_id=int(claims["i"]) if "i" in claims else None,
                expires_at=float(claims["x"]),
            )
        except (ValueError, KeyError, TypeError):
            raise BadLink("malformed claims") from None
        if target.kind != kind:
            raise BadLink("wrong kind")
        if target.expires_at <= (time.time() if now is None else now):
            raise ExpiredLink()
        return target
