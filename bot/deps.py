"""Everything the listeners and the web routes need, built once per process from Settings."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from aiohttp import web
from redis.maint_notifications import MaintNotificationsConfig

from bot.config import Settings
from bot.links import LinkSigner
from bot.mida.client import MidaClient, Timeouts
from bot.services.access import Access
from bot.services.audit_trail import AuditTrail
from bot.services.changes.decisions import DecisionService
from bot.services.changes.drafts import DraftService
from bot.services.changes.execution import ExecutionService
from bot.services.changes.intake import ChangeIntake
from bot.services.changes.ramps import RampService
from bot.services.connect import ConnectService
from bot.services.deliveries import Deliveries
from bot.services.experiments import ExperimentService
from bot.services.followups import FollowupService
from bot.services.guardrails import Guardrails
from bot.services.home import HomeService
from bot.services.results import ResultsService
from bot.services.scheduler import Scheduler
from bot.services.settings import SettingsService
from bot.services.uninstall import UninstallService
from bot.services.watches import WatchService, WatchTimings
from bot.slack.clients import SlackClients
from bot.slack.directory import SlackDirectory
from bot.slack.headroom import Headroom
from bot.slack.home_tab import HomeTab, RefreshingNotifier
from bot.slack.notifier import SlackNotifier
from bot.slack.oauth import InstallationAuthorize, MidaOAuthFlow, build_oauth_flow
from bot.slack.responses import ResponseSession
from bot.store.audit import AuditLog
from bot.store.client import AnyRedis, redis_client
from bot.store.crypto import SecretBox
from bot.store.dedupe import Dedupe
from bot.store.drafts import DraftStore
from bot.store.followups import FollowupStore
from bot.store.installations import RedisInstallationStore, RedisOAuthStateStore
from bot.store.jobs import JobQueue
from bot.store.orgs import OrgIndex
from bot.store.ramps import RampStore
from bot.store.requests import RequestStore
from bot.store.results_cache import ResultsCache
from bot.store.rules import RulesStore
from bot.store.schedule import EXPIRE, FOLLOWUP, RAMP, WATCH, Schedule
from bot.store.watches import WatchStore
from bot.store.workspaces import WorkspaceStore


@dataclass
class Deps:
    settings: Settings
    redis: AnyRedis
    mida: MidaClient
    clients: SlackClients
    workspaces: WorkspaceStore
    rules: RulesStore
    drafts: DraftStore
    requests: RequestStore
    audit: AuditLog
    dedupe: Dedupe
    deliveries: Deliveries
    jobs: JobQueue
    links: LinkSigner
    access: Access
    connect: ConnectService
    experiments: ExperimentService
    intake: ChangeIntake
    drafting: DraftService
    decisions: DecisionService
    execution: ExecutionService
    scheduler: Scheduler
    ramps: RampService
    watches: WatchService
    audit_trail: AuditTrail
    followups: FollowupService
    results_cache: ResultsCache
    results: ResultsService
    settings_service: SettingsService
    notifier: RefreshingNotifier
    # App Home and multi-workspace installs (the last three are None in single-workspace mode)
    home: HomeService
    home_tab: HomeTab
    uninstall: UninstallService
    installations: RedisInstallationStore | None
    authorize: InstallationAuthorize | None
    oauth_flow: MidaOAuthFlow | None
    # Per process: room for reads after the ack here, and the pooled response_url session.
    headroom: Headroom = field(default_factory=Headroom)
    responses: ResponseSession = field(default_factory=ResponseSession)

    async def aclose(self) -> None:
        await self.headroom.aclose()
        await self.responses.aclose()
        await self.home_tab.aclose()
        await self.mida.aclose()
        await self.workspaces.aclose()
        await self.redis.aclose()


def build_deps(settings: Settings, *, clients: SlackClients | None = None) -> Deps:
    redis = redis_client(
        settings.REDIS_URL,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
        # Room for the lazy queue's 200 concurrent listeners plus the job worker and the web side.
        max_connections=512,
        # With maintenance notifications on (redis-py's default for RESP3), the pool skips its check
        # that a pooled connection is still open, so after a Redis restart every stale connection
        # fails one command. Off: a dead connection is replaced before anything is sent on it.
        maint_notifications_config=MaintNotificationsConfig(enabled=False),
    )
    mida = MidaClient(
        settings.MIDA_API_URL,
        timeouts=Timeouts(read=settings.MIDA_READ_TIMEOUT_SECONDS, total=settings.MIDA_TOTAL_TIMEOUT_SECONDS),
    )
    installations: RedisInstallationStore | None = None
    authorize: InstallationAuthorize | None = None
    if settings.oauth_enabled:
        assert settings.SLACK_CLIENT_ID is not None
        installations = RedisInstallationStore(redis, SecretBox(settings.encryption_keys), settings.SLACK_CLIENT_ID)
        authorize = InstallationAuthorize(installations)
        # Each workspace's own installation token, never a fallback to a single SLACK_BOT_TOKEN.
        clients = clients or SlackClients(settings.model_copy(update={"SLACK_BOT_TOKEN": None}), authorize.token_for)
    clients = clients or SlackClients(settings)
    workspaces = WorkspaceStore(redis, SecretBox(settings.encryption_keys))
    rules = RulesStore(redis)
    drafts = DraftStore(redis)
    requests = RequestStore(redis)
    audit = AuditLog(redis, max_entries=settings.AUDIT_MAX_ENTRIES, max_age_days=settings.AUDIT_MAX_AGE_DAYS)
    jobs = JobQueue(
        redis, consumer=f"{socket.gethostname()}-{os.getpid()}", stale_after_ms=settings.MIDA_JOB_STALE_AFTER_MS
    )
    links = LinkSigner(settings.encryption_keys, settings.PUBLIC_URL)
    access = Access(rules, SlackDirectory(clients))
    experiments = ExperimentService(workspaces, mida)
    home = HomeService(
        redis=redis,
        workspaces=workspaces,
        experiments=experiments,
        requests=requests,
        rules=rules,
        audit=audit,
        access=access,
        ramps=RampStore(redis),
        watches=WatchStore(redis),
    )
    home_tab = HomeTab(home, clients)
    responses = ResponseSession()  # one pooled session for every response_url post of the process
    cards = SlackNotifier(settings, redis, clients, requests, rules, links, RampStore(redis), responses)
    notifier = RefreshingNotifier(cards, home_tab)  # Home tabs follow the cards
    schedule = Schedule(redis)
    followup_store = FollowupStore(redis, schedule)
    oauth_flow = (
        build_oauth_flow(settings, installations, RedisOAuthStateStore(redis), authorize)
        if installations is not None
        else None
    )
    followups = FollowupService(followup_store, experiments, requests, rules, notifier)
    results_cache = ResultsCache(redis)
    intake = ChangeIntake(
        experiments=experiments,
        requests=requests,
        rules=rules,
        access=access,
        audit=audit,
        jobs=jobs,
        notifier=notifier,
    )
    ramp_store = RampStore(redis)
    ramps = RampService(
        ramps=ramp_store,
        schedule=schedule,
        requests=requests,
        experiments=experiments,
        rules=rules,
        access=access,
        audit=audit,
        intake=intake,
        notifier=notifier,
    )
    watches = WatchService(
        store=WatchStore(redis),
        schedule=schedule,
        experiments=experiments,
        requests=requests,
        rules=rules,
        ramps=ramps,
        notifier=notifier,
        timings=WatchTimings(
            interval=settings.MIDA_WATCH_INTERVAL_SECONDS,
            after_serve_hours=settings.MIDA_WATCH_AFTER_SERVE_HOURS,
            unreachable_after=settings.MIDA_WATCH_UNREACHABLE_SECONDS,
            reads_per_minute=settings.MIDA_WATCH_READS_PER_MINUTE,
            watch_all_limit=settings.MIDA_WATCH_ALL_LIMIT,
        ),
    )
    drafting = DraftService(
        experiments=experiments, drafts=drafts, guardrails=Guardrails(rules), intake=intake, ramps=ramp_store
    )
    decisions = DecisionService(
        requests=requests, rules=rules, access=access, audit=audit, jobs=jobs, notifier=notifier
    )
    execution = ExecutionService(
        experiments=experiments,
        requests=requests,
        audit=audit,
        notifier=notifier,
        followups=followups,
        results_cache=results_cache,
        ramps=ramps,
        watches=watches,
        rules=rules,
    )
    uninstall = UninstallService(
        workspaces=workspaces,
        requests=requests,
        audit=audit,
        followups=followup_store,
        orgs=OrgIndex(redis),
        installations=installations,
        forget_token=authorize.forget if authorize is not None else None,
        forget_hooks=[home.forget, ramps.forget, watches.forget],
    )
    dedupe = Dedupe(redis)
    scheduler = Scheduler(schedule)
    scheduler.register(EXPIRE, decisions.expire_scheduled)
    scheduler.register(FOLLOWUP, followups.run_scheduled)
    scheduler.register(RAMP, ramps.run_scheduled)
    scheduler.register(WATCH, watches.run_scheduled)
    return Deps(
        headroom=Headroom(settings.MIDA_LOCAL_READS, in_flight=settings.MIDA_LOCAL_READS_IN_FLIGHT),
        responses=responses,
        settings=settings,
        redis=redis,
        mida=mida,
        clients=clients,
        workspaces=workspaces,
        rules=rules,
        drafts=drafts,
        requests=requests,
        audit=audit,
        dedupe=dedupe,
        deliveries=Deliveries(dedupe),
        jobs=jobs,
        links=links,
        access=access,
        connect=ConnectService(workspaces, mida, audit, access, on_disconnect=[watches.forget]),
        experiments=experiments,
        intake=intake,
        drafting=drafting,
        decisions=decisions,
        execution=execution,
        scheduler=scheduler,
        ramps=ramps,
        watches=watches,
        audit_trail=AuditTrail(experiments, audit),
        followups=followups,
        results_cache=results_cache,
        results=ResultsService(experiments, results_cache),
        settings_service=SettingsService(rules, access, audit),
        notifier=notifier,
        home=home,
        home_tab=home_tab,
        uninstall=uninstall,
        installations=installations,
        authorize=authorize,
        oauth_flow=oauth_flow,
    )


# Where the web app keeps its Deps, for the routes that are not Slack listeners.
DEPS = web.AppKey("deps", Deps)
