"""Redis key layout: every key the bot writes is built here or from these helpers. Every key starts
with `mida:`; every key of one workspace carries the workspace's Redis Cluster hash tag,
`mida:{<team.key>}:...`, so each multi-key command, transaction and script touches one slot.

Per workspace (T = TeamRef.key, e.g. "T123" or "E1:T123"):
  mida:{T}:workspace                 string  connection record, API key Fernet-encrypted
  mida:{T}:health                    hash    last Mida call: last_ok_at, last_error, last_error_at
  mida:{T}:policy                    string  WorkspaceSettings JSON (the default rules + bot admins)
  mida:{T}:policy:channels           hash    channel id -> ChannelRules JSON (a channel's own rules)
  mida:{T}:draft:<id>                string  Draft JSON, with a TTL
  mida:{T}:req:<id>                  hash    ChangeRequest (see store/requests.py)
  mida:{T}:req:<id>:approvers        set     approver user ids of that request
  mida:{T}:pending                   zset    pending request ids, score expires_at (+inf: none)
  mida:{T}:audit                     stream  the audit log
  mida:{T}:dedupe:<token>            string  replay-protection marker, with a TTL
  mida:{T}:followups                 set     test ids with follow-ups scheduled (the index uninstall reads)
  mida:{T}:followups:<test_id>       set     follow-ups (schedule payloads) scheduled for that experiment
  mida:{T}:results-cache:<test_id>   string  results page inputs, with a TTL (and `:lock`, a TTL'd lock)
  mida:{T}:request:<id>:card-lock    string  one card update at a time, with a TTL
  mida:{T}:request:<id>:final-notified string the card's last words were sent, with a TTL
  mida:{T}:home:viewers              zset    who has the Home tab open, with a TTL
  mida:{T}:ramp:<id>                 hash    a ramp plan being carried out (see store/ramps.py)
  mida:{T}:ramps                     set     the workspace's ramp ids
  mida:{T}:ramp-of:<test_id>         string  the experiment's unfinished ramp
  mida:{T}:watches                   hash    who watches which experiment (see store/watches.py)
  mida:{T}:watch-state:<test_id>     hash    what the watch last saw and said, per condition
  mida:{T}:watch-reads:<minute>      string  the watches' Mida reads that minute, with a TTL
  mida:{T}:install:...               Slack installation records (see store/installations.py)
Per Enterprise Grid org (E = enterprise id; the same slot as an org-wide install, `mida:{E}:install:...`):
  mida:{E}:workspaces                set     team ids of the org's workspaces that may have data here
Other scopes:
  mida:{oauth}:state:<state>         string  an OAuth state, with a TTL
  mida:{enterprise-<E>}:dedupe:<t>   string  replay marker of an event that names only the enterprise
Global (one key each, so one slot each; never in the same command or script as a workspace key):
  mida:jobs                          stream  the execution queue (store/jobs.py)
  mida:lazy                          stream  work after an ack (slack/lazy_queue.py)
  mida:due                           zset    "<kind>|<payload>" -> when due (store/schedule.py), kinds:
                                             expire|<T>|<request id>                    (expires_at)
                                             followup|<T>|<request id>|<test id>|<hours>
                                             ramp|<T>|<ramp id>                         (next step)
                                             watch|<T>|<test id>                        (next read)
Read once at startup, then gone (moved into mida:due by Schedule.adopt):
  mida:expiry, mida:followups        zset    the schedules of earlier versions
The global schedule is a hint (the per-workspace records are the truth): a step that writes both a
workspace key and a global one is ordered so that a crash in between leaves what a sweep repairs.
Nothing lists keys with SCAN or KEYS: what must be found again is reachable from an index above.
"""

from __future__ import annotations

import re
import secrets

from bot.domain import TeamRef

PREFIX = "mida"
DUE_SCHEDULE = f"{PREFIX}:due"
LEGACY_EXPIRY = f"{PREFIX}:expiry"
LEGACY_FOLLOWUPS = f"{PREFIX}:followups"
JOBS_STREAM = f"{PREFIX}:jobs"
LAZY_STREAM = f"{PREFIX}:lazy"
MEMBER_SEP = "|"
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def scope_key(scope: str, *parts: str) -> str:
    """`mida:{<scope>}:<parts...>` for a hash-tag body given as text (a TeamRef.key or another scope)."""
    if not scope or "{" in scope or "}" in scope:
        raise ValueError("a key scope must be non-empty and contain no braces")
    return ":".join((f"{PREFIX}:{{{scope}}}", *parts)) if parts else f"{PREFIX}:{{{scope}}}"


def ws_key(team: TeamRef, *parts: str) -> str:
    """`ws_key(TeamRef(team_id="T123"), "workspace")` -> "mida:{T123}:workspace"."""
    return scope_key(team.key, *parts)


def org_key(enterprise_id: str, *parts: str) -> str:
    """`org_key("E1", "workspaces")` -> "mida:{E1}:workspaces": the org's own slot."""
    return scope_key(enterprise_id, *parts)


def team_from_key(team_key: str) -> TeamRef:
    """The inverse of TeamRef.key: "T123" or "E1:T123"."""
    enterprise, sep, team_id = team_key.rpartition(":")
    return TeamRef(team_id=team_id, enterprise_id=enterprise if sep else None)


def index_member(team: TeamRef | str, request_id: str) -> str:
    """A member of the global indexes: "<team key>|<request id>"."""
    team_key = team.key if isinstance(team, TeamRef) else team
    return f"{team_key}{MEMBER_SEP}{request_id}"


def parse_index_member(member: bytes | str) -> tuple[str, str]:
    text = member.decode() if isinstance(member, bytes) else member
    team_key, _, request_id = text.partition(MEMBER_SEP)
    return team_key, request_id


def new_id() -> str:
    """A url-safe random id (128 bits) for requests and drafts; safe inside Slack action values."""
    return secrets.token_urlsafe(16)


def is_valid_id(value: str) -> bool:
    """Ids that may become part of a key (url-safe, at most 64 characters). Ids arriving from Slack
    payloads are checked with this, so a crafted one cannot name another key."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None
