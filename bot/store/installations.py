"""Slack installations and OAuth state in Redis: slack_sdk's `AsyncInstallationStore` and
`AsyncOAuthStateStore`, which slack_sdk ships for S3, SQL and files but not for Redis.

The layout follows slack_sdk's `AmazonS3InstallationStore` (`<client_id>/<enterprise>-<team>/`
`bot-latest`, `installer-latest`, `installer-<user>-latest`), with the S3 folder replaced by the
workspace's Redis Cluster hash tag, so an installation sits in the same slot as the rest of the
workspace's data (see `bot.store.keys`):

  S = the installation's scope: TeamRef.key for a workspace install ("T123", or "E1:T123" for a
      workspace of an Enterprise Grid org), the enterprise id alone ("E1") for an org-wide install
  mida:{S}:install:<client_id>:bot-latest               the latest bot (token, ids, scopes)
  mida:{S}:install:<client_id>:installer-latest         the latest installation, whoever installed
  mida:{S}:install:<client_id>:installer-<user>-latest  the latest installation by that user
  mida:{S}:install:<client_id>:installers               set of the users with a record above
  mida:{oauth}:state:<state>                            an OAuth state: single use, with a TTL

Values are Fernet tokens (`SecretBox`) of the records' JSON, because they hold bot and user tokens:
no Slack token is stored in plaintext. Only the latest records are kept (S3's timestamped copies
are not: an old token is of no use, and the audit log is the record of what happened).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from logging import Logger
from typing import Any, cast

from slack_sdk.oauth.installation_store.async_installation_store import (
    AsyncInstallationStore,
)
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from bot.domain import TeamRef
from bot.store.client import AnyRedis, text
from bot.store.crypto import SecretBox, UndecryptableSecret
from bot.store.keys import is_valid_id, scope_key
from bot.store.orgs import OrgIndex

log = logging.getLogger(__name__)

STATE_SCOPE = "oauth"
DEFAULT_STATE_TTL = 600


def installation_scope(
    enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
) -> str:
    """The hash-tag body an installation is kept under (see the module docstring)."""
    enterprise_id = enterprise_id or None
    team_id = team_id or None
    for value in (enterprise_id, team_id):
        if value is not None and not is_valid_id(value):
            raise ValueError("Slack ids are letters and digits")
    if is_enterprise_install and enterprise_id:
        return enterprise_id
    if team_id:
        return TeamRef(team_id=team_id, enterprise_id=enterprise_id).key
    if enterprise_id:
        return enterprise_id
    raise ValueError("an installation needs a team id or an enterprise id")


class RedisInstallationStore(AsyncInstallationStore):
    """Bot and installer records per workspace (or per org, for org-wide installs)."""

    def __init__(self, redis: AnyRedis, box: SecretBox, client_id: str, logger: Logger = log) -> None:
        if not client_id or "{" in client_id or "}" in client_id:
            raise ValueError("a Slack client id is needed")
        self._redis = redis
        self._box = box
        self._orgs = OrgIndex(redis)
        self.client_id = client_id
        self._logger = logger

    @property
    def logger(self) -> Logger:
        return self._logger

    # -- keys -------------------------------------------------------------------------------

    def _key(self, scope: str, name: str) -> str:
        return scope_key(scope, "install", self.client_id, name)

    def _installer_key(self, scope: str, user_id: str | None) -> str:
        if user_id is None:
            return self._key(scope, "installer-latest")
        if not is_valid_id(user_id):
            raise ValueError("Slack user ids are letters and digits")
        return self._key(scope, f"installer-{user_id}-latest")

    def _seal(self, record: dict[str, Any]) -> bytes:
        return self._box.encrypt(json.dumps(record, separators=(",", ":")))

    def _open(self, raw: bytes | None, what: str, scope: str) -> dict[str, Any] | None:
        if raw is None:
            return None
        try:
            return json.loads(self._box.decrypt(raw))
        except (UndecryptableSecret, ValueError):
            # Keys rotated away or a damaged record: as good as not installed (a reinstall fixes it).
            self.logger.warning("unreadable installation record", extra={"scope": scope, "record": what})
            return None

    # -- save -------------------------------------------------------------------------------

    async def async_save(self, installation: Installation) -> None:
        scope = installation_scope(installation.enterprise_id, installation.team_id, installation.is_enterprise_install)
        sealed = self._seal(installation.__dict__)
        if not installation.is_enterprise_install and installation.enterprise_id and installation.team_id:
            await self._orgs.add(TeamRef(team_id=installation.team_id, enterprise_id=installation.enterprise_id))
        async with self._redis.pipeline(transaction=True) as pipe:
            if installation.bot_token is not None:
                pipe.set(self._key(scope, "bot-latest"), self._seal(installation.to_bot().__dict__))
            pipe.set(self._installer_key(scope, None), sealed)
            if installation.user_id:
                pipe.set(self._installer_key(scope, installation.user_id), sealed)
                pipe.sadd(self._key(scope, "installers"), installation.user_id)
            await pipe.execute()
        self.logger.info(
            "installation saved",
            extra={"scope": scope, "user": installation.user_id, "org_wide": bool(installation.is_enterprise_install)},
        )

    async def async_save_bot(self, bot: Bot) -> None:
        if bot.bot_token is None:
            self.logger.debug("skipped saving a bot without a bot token")
            return
        scope = installation_scope(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        if not bot.is_enterprise_install and bot.enterprise_id and bot.team_id:
            await self._orgs.add(TeamRef(team_id=bot.team_id, enterprise_id=bot.enterprise_id))
        await self._redis.set(self._key(scope, "bot-latest"), self._seal(bot.__dict__))

    # -- find -------------------------------------------------------------------------------

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        try:
            scope = installation_scope(enterprise_id, team_id, is_enterprise_install)
        except ValueError:
            return None
        data = self._open(cast(bytes | None, await self._redis.get(self._key(scope, "bot-latest"))), "bot", scope)
        return Bot(**data) if data is not None else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        try:
            scope = installation_scope(enterprise_id, team_id, is_enterprise_install)
            key = self._installer_key(scope, user_id)
        except ValueError:
            return None
        data = self._open(cast(bytes | None, await self._redis.get(key)), "installer", scope)
        if data is None:
            return None
        installation = Installation(**data)
        if user_id is not None or installation.bot_token is None:
            # As slack_sdk's stores do: the latest bot wins over the one this installer got
            # (https://github.com/slackapi/bolt-python/issues/664).
            bot = await self.async_find_bot(
                enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
            )
            if bot is not None and bot.bot_token != installation.bot_token:
                installation.bot_id = bot.bot_id
                installation.bot_user_id = bot.bot_user_id
                installation.bot_token = bot.bot_token
                installation.bot_scopes = bot.bot_scopes
                installation.bot_refresh_token = bot.bot_refresh_token
                installation.bot_token_expires_at = bot.bot_token_expires_at
        return installation

    # -- delete -----------------------------------------------------------------------------

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        scope = installation_scope(enterprise_id, team_id)
        await self._redis.delete(self._key(scope, "bot-latest"))

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        scope = installation_scope(enterprise_id, team_id)
        users_key = self._key(scope, "installers")
        if user_id is not None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._installer_key(scope, user_id))
                pipe.srem(users_key, user_id)
                pipe.scard(users_key)
                _, _, left = await pipe.execute()
            if left == 0:  # as S3's store: with no installer left, the workspace record goes too
                await self._redis.delete(self._installer_key(scope, None))
            return
        users = [text(u) for u in await self._redis.smembers(users_key)]
        keys = [self._installer_key(scope, None), users_key]
        keys += [self._installer_key(scope, u) for u in users if is_valid_id(u)]
        await self._redis.delete(*keys)

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)
        await self.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id)
        self.logger.info("installation deleted", extra={"scope": installation_scope(enterprise_id, team_id)})


class RedisOAuthStateStore(AsyncOAuthStateStore):
    """OAuth `state` values: issued with a TTL, consumed at most once (GETDEL)."""

    def __init__(self, redis: AnyRedis, expiration_seconds: int = DEFAULT_STATE_TTL, logger: Logger = log) -> None:
        self._redis = redis
        self.expiration_seconds = int(expiration_seconds)
        self._logger = logger

    @property
    def logger(self) -> Logger:
        return self._logger

    @staticmethod
    def _key(state: str) -> str:
        return scope_key(STATE_SCOPE, "state", state)

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(24)
        await self._redis.set(self._key(state), repr(time.time()), ex=self.expiration_seconds, nx=True)
        return state

    async def async_consume(self, state: str) -> bool:
        """True once for a state this store issued and that has not expired; False after."""
        if not isinstance(state, str) or not is_valid_id(state):
            return False
        found = await self._redis.getdel(self._key(state))
        if found is None:
            self.logger.info("OAuth state unknown, expired or already used")
        return found is not None
