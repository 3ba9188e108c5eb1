"""Everything the listeners and the web routes need, built once per process from Settings."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web

from bot.config import Settings
from bot.mida.client import MidaClient, Timeouts
from bot.services.access import Access
from bot.services.changes import ChangeService
from bot.services.connect import ConnectService
from bot.services.experiments import ExperimentService
from bot.services.followups import FollowupService
from bot.services.guardrails import Guardrails
from bot.services.settings import SettingsService
from bot.slack.clients import SlackClients
from bot.slack.directory import SlackDirectory
from bot.slack.notifier import SlackNotifier
from bot.store.audit import AuditLog
from bot.store.crypto import SecretBox
from bot.store.dedupe import Dedupe
from bot.store.drafts import DraftStore
from bot.store.followups import FollowupStore
from bot.store.jobs import JobQueue
from bot.store.policies import PolicyStore
from bot.store.requests import RequestStore
from bot.store.workspaces import WorkspaceStore
from bot.web.links import LinkSigner


@dataclass
class Deps:
    settings: Settings
    redis: aioredis.Redis
    mida: MidaClient
    clients: SlackClients
    workspaces: WorkspaceStore
    policies: PolicyStore
    drafts: DraftStore
    requests: RequestStore
    audit: AuditLog
    dedupe: Dedupe
    jobs: JobQueue
    links: LinkSigner
    access: Access
    connect: ConnectService
    experiments: ExperimentService
    changes: ChangeService
    followups: FollowupService
    settings_service: SettingsService
    notifier: SlackNotifier

    async def aclose(self) -> None:
        await self.mida.aclose()
        await self.redis.aclose()


def build_deps(settings: Settings, *, clients: SlackClients | None = None) -> Deps:
    redis = aioredis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
    )
    mida = MidaClient(
        settings.MIDA_API_URL,
        timeouts=Timeouts(read=settings.MIDA_READ_TIMEOUT_SECONDS, total=settings.MIDA_TOTAL_TIMEOUT_SECONDS),
    )
    clients = clients or SlackClients(settings)
    workspaces = WorkspaceStore(redis, SecretBox(settings.encryption_keys))
    policies = PolicyStore(redis)
    drafts = DraftStore(redis)
    requests = RequestStore(redis)
    audit = AuditLog(redis)
    jobs = JobQueue(
        redis, consumer=f"{socket.gethostname()}-{os.getpid()}", stale_after_ms=settings.MIDA_JOB_STALE_AFTER_MS
    )
    links = LinkSigner(settings.encryption_keys, settings.PUBLIC_URL)
    access = Access(policies, SlackDirectory(clients))
    experiments = ExperimentService(workspaces, mida)
    notifier = SlackNotifier(settings, redis, clients, requests, policies, links)
    followups = FollowupService(FollowupStore(redis), experiments, requests, policies, notifier)
    changes = ChangeService(
        experiments=experiments,
        drafts=drafts,
        requests=requests,
        policies=policies,
        audit=audit,
        access=access,
        jobs=jobs,
        notifier=notifier,
        guardrails=Guardrails(policies),
        followups=followups,
    )
    return Deps(
        settings=settings,
        redis=redis,
        mida=mida,
        clients=clients,
        workspaces=workspaces,
        policies=policies,
        drafts=drafts,
        requests=requests,
        audit=audit,
        dedupe=Dedupe(redis),
        jobs=jobs,
        links=links,
        access=access,
        connect=ConnectService(workspaces, mida, audit, access),
        experiments=experiments,
        changes=changes,
        followups=followups,
        settings_service=SettingsService(policies, access, audit),
        notifier=notifier,
    )


# Where the web app keeps its Deps, for the routes that are not Slack listeners.
DEPS = web.AppKey("deps", Deps)
