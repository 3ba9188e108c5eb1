"""Encryption of secrets at rest (Mida API keys): Fernet, with key rotation via MultiFernet."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


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

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, plain: str) -> bytes:
        return self._all.encrypt(plain.encode("utf-8"))

    def decrypt(self, token: bytes | str) -> str:
        try:
            return self._all.decrypt(_as_bytes(token)).decode("utf-8")
        except (InvalidToken, UnicodeDecodeError, TypeError, ValueError):
            raise UndecryptableSecret("no configured encryption key decrypts this secret") from None

    def needs_rotation(self, token: bytes | str) -> bool:
        """True when the token decrypts only with an older key (not the first one)."""
        try:
            self._primary.decrypt(_as_bytes(token))
            return False
        except (InvalidToken, TypeError, ValueError):
            return True

    def rotate(self, token: bytes | str) -> bytes:
        """The same secret, re-encrypted with the first key."""
        try:
            return self._all.rotate(_as_bytes(token))
        except (InvalidToken, TypeError, ValueError):
            raise UndecryptableSecret("no configured encryption key decrypts this secret") from None


def _as_bytes(token: bytes | str) -> bytes:
    return token.encode("ascii") if isinstance(token, str) else token
