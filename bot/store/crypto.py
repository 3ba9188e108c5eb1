"""Encryption of secrets at rest (Mida API keys): Fernet, with key rotation via MultiFernet."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

_OPENED_KEPT = 1024


class UndecryptableSecret(Exception):
    """No configured key decrypts the stored secret (keys rotated away, or data corrupted).
    The message never contains the token or any key."""


class SecretBox:
    """The first key encrypts; every key decrypts. To rotate: put the new key first, keep the old
    ones after it until every stored secret has been re-encrypted (WorkspaceStore.get does that)."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise ValueError("SecretBox needs at least one encryption key")
        try:
            fernets = [Fernet(k.strip()) for k in keys]
        except (ValueError, TypeError):
            raise ValueError("each encryption key must be a Fernet key (run `mida-slack keygen`)") from None
        self._primary = fernets[0]
        self._all = MultiFernet(fernets)
        # Each request reads its workspace's key: two Fernet decryptions (HMAC and AES) per request
        # otherwise. A token is one encryption of one secret, so what it opens to never changes.
        self._opened: OrderedDict[bytes, tuple[str, bool]] = OrderedDict()

    def _open(self, token: bytes | str) -> tuple[str, bool]:
        """The secret and whether only an older key opens it; raises UndecryptableSecret."""
        raw = _as_bytes(token)
        opened = self._opened.get(raw)
        if opened is not None:
            self._opened.move_to_end(raw)
            return opened
        try:
            plain = self._all.decrypt(raw).decode("utf-8")
        except (InvalidToken, UnicodeDecodeError, TypeError, ValueError):
            raise UndecryptableSecret("no configured encryption key decrypts this secret") from None
        try:
            self._primary.decrypt(raw)
            older = False
        except InvalidToken:
            older = True
        self._opened[raw] = (plain, older)
        if len(self._opened) > _OPENED_KEPT:
            self._opened.popitem(last=False)
        return plain, older

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, plain: str) -> bytes:
        return self._all.encrypt(plain.encode("utf-8"))

    def decrypt(self, token: bytes | str) -> str:
        return self._open(token)[0]

    def needs_rotation(self, token: bytes | str) -> bool:
        """True when the token decrypts only with an older key (not the first one), or not at all."""
        try:
            return self._open(token)[1]
        except UndecryptableSecret:
            return True

    def rotate(self, token: bytes | str) -> bytes:
        """The same secret, re-encrypted with the first key."""
        try:
            return self._all.rotate(_as_bytes(token))
        except (InvalidToken, TypeError, ValueError):
            raise UndecryptableSecret("no configured encryption key decrypts this secret") from None


def _as_bytes(token: bytes | str) -> bytes:
    return token.encode("ascii") if isinstance(token, str) else token
