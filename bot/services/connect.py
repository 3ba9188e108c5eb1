"""Connecting a workspace to a Mida project, and forgetting it."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence

from bot.domain import AuditEntry, AuditEvent, Person, Region, TeamRef, Workspace
from bot.logs import SECRETS
from bot.mida import errors as mida
from bot.mida.client import MidaClient
from bot.services.access import Access
from bot.services.errors import InvalidInput
from bot.store.audit import AuditLog
from bot.store.workspaces import WorkspaceStore

log = logging.getLogger(__name__)

# The check runs before the modal's ack, which Slack waits 3 s for.
CHECK_DEADLINE = 2.4

_PROJECT_KEY = re.compile(r"^[A-Za-z0-9_\-.]{1,128}$")
_API_KEY = re.compile(r"^[\x21-\x7e]{8,512}$")


class ConnectService:
    def __init__(
        self,
        workspaces: WorkspaceStore,
        mida: MidaClient,
        audit: AuditLog,
        access: Access,
        *,
        on_disconnect: Sequence[Callable[[TeamRef], Awaitable[None]]] = (),
    ) -> None:
        self._workspaces = workspaces
        self._on_disconnect = tuple(on_disconnect)
        self._mida = mida
        self._audit = audit
        self._access = access

    async def connect(
        self, team: TeamRef, person: Person, project_key: str | None, api_key: str | None, region: str | None
    ) -> Workspace:
        """Check the pair live against Mida, then save it. Raises InvalidInput naming the field."""
        await self._access.require_admin(team, person.user_id, "connect this workspace to Mida")
        project_key = (project_key or "").strip()
        api_key = (api_key or "").strip()
        if not _PROJECT_KEY.match(project_key):
            raise InvalidInput(
                "project_key", "Paste the project key from Mida → Settings → API (letters, digits, - and _)."
            )
        if not _API_KEY.match(api_key):
            raise InvalidInput("api_key", "Paste the whole API key from Mida → Settings → API Keys (no spaces).")
        SECRETS.add(api_key)  # from now on no log line shows it, whatever Mida answers
        try:
            chosen = Region((region or "").strip().lower())
        except ValueError:
            raise InvalidInput("region", "Choose the region your Mida account is hosted in: us or eu.") from None

        try:
            async with asyncio.timeout(CHECK_DEADLINE):
                await self._mida.project(project_key, chosen.value, api_key).check_credentials()
        except TimeoutError:
            raise InvalidInput(
                "project_key",
                "Mida did not answer in time, so the key could not be checked. Nothing was saved; try again.",
            ) from None
        except mida.MidaUnauthorized as err:
            raise InvalidInput(
                "api_key",
                f"Mida rejected this API key for project {project_key} in region {chosen.value} "
                f"({err.message}). Check the key, the project key and the region.",
            ) from None
        except mida.MidaNotFound as err:
            raise InvalidInput("project_key", f"Mida does not know this project ({err.message}).") from None
        except mida.MidaError as err:
            log.warning("connect check failed", extra={"team": team.key, "error": type(err).__name__})
            raise InvalidInput(
                "project_key", f"Could not reach Mida to check the key ({err.message}). Nothing was saved; try again."
            ) from None

        ws = Workspace(
            team=team,
            project_key=project_key,
            region=chosen,
            api_key=api_key,
            connected_by=person,
            connected_at=time.time(),
        )
        await self._workspaces.save(ws)
        await self._audit.append(
            team,
            AuditEntry(
                event=AuditEvent.CONNECTED,
                actor=person,
                detail={"project_key": project_key, "region": chosen.value, "api_key": ws.masked_key},
            ),
        )
        log.info("workspace connected", extra={"team": team.key, "project_key": project_key, "region": chosen.value})
        return ws

    async def disconnect(self, team: TeamRef, person: Person) -> bool:
        await self._access.require_admin(team, person.user_id, "disconnect this workspace from Mida")
        removed = await self._workspaces.delete(team)
        if removed:
            await self._audit.append(team, AuditEntry(event=AuditEvent.DISCONNECTED, actor=person))
            for hook in self._on_disconnect:  # what only a connected workspace has (its watches)
                await hook(team)
        return removed
