"""The audit log: one Redis Stream per workspace, `mida:{T}:audit`. Entries are never edited.

Each stream entry has the fields event, at, test_id, request_id, actor_user, actor_team ('' when
absent; for filtering without decoding) and `entry`, the full AuditEntry JSON. The stream is
trimmed (approximately) to `max_entries` and to `max_age_days`, measured by the Redis clock.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import cast

from bot.domain import AuditEntry, TeamRef
from bot.store.client import AnyRedis, StreamEntries
from bot.store.keys import ws_key

logger = logging.getLogger(__name__)

# KEYS: stream. ARGV: max entries, max age in ms, then field, value pairs.
# XADD takes one trim rule, so the age rule is an XTRIM MINID relative to the new entry's id.
_APPEND = """
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
local ms = tonumber(string.match(id, '^(%d+)'))
redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%.0f', math.max(0, ms - tonumber(ARGV[2]))))
return id
"""

_FILTER_SCAN_LIMIT = 10_000  # entries read at most by one filtered recent()


class AuditLog:
    def __init__(self, redis: AnyRedis, max_entries: int = 100_000, max_age_days: float = 365) -> None:
        self._redis = redis
        self._max_entries = int(max_entries)
        self._max_age_ms = int(max_age_days * 86_400_000)
        self._append = redis.register_script(_APPEND)

    async def append(self, team: TeamRef, entry: AuditEntry) -> str:
        """Add an entry; returns its stream id (which becomes entry_id when read back)."""
        actor = entry.actor
        fields = {
            "event": entry.event.value,
            "at": repr(float(entry.at)),
            "test_id": "" if entry.test_id is None else str(entry.test_id),
            "request_id": entry.request_id or "",
            "actor_user": actor.user_id if actor else "",
            "actor_team": actor.team_id if actor else "",
            "entry": entry.model_dump_json(exclude={"entry_id"}),
        }
        args: list[str | int] = [self._max_entries, self._max_age_ms]
        for name, value in fields.items():
            args += [name, value]
        raw_id = await self._append(keys=[ws_key(team, "audit")], args=args)
        entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
        logger.info(
            "audit entry",
            extra={"team": team.key, "event": entry.event.value, "request_id": entry.request_id, "entry_id": entry_id},
        )
        return entry_id

    async def recent(self, team: TeamRef, limit: int = 20, test_id: int | None = None) -> list[AuditEntry]:
        """Newest first. With `test_id`, reads further back (in pages, up to 10,000 entries)
        until `limit` entries of that experiment are found or the log ends."""
        key = ws_key(team, "audit")
        if test_id is None:
            rows = cast(StreamEntries, await self._redis.xrevrange(key, "+", "-", count=limit))
            return [_entry(i, f) for i, f in rows]
        wanted = str(test_id).encode()
        found: list[AuditEntry] = []
        upper: bytes | str = "+"
        scanned = 0
        page = max(100, limit * 5)
        while len(found) < limit and scanned < _FILTER_SCAN_LIMIT:
            rows = cast(StreamEntries, await self._redis.xrevrange(key, upper, "-", count=page))
            if not rows:
                break
            scanned += len(rows)
            for entry_id, fields in rows:
                if fields.get(b"test_id") == wanted:
                    found.append(_entry(entry_id, fields))
                    if len(found) == limit:
                        break
            upper = b"(" + rows[-1][0]
            if len(rows) < page:
                break
        return found

    async def iterate(self, team: TeamRef, batch: int = 500) -> AsyncIterator[AuditEntry]:
        """Every entry, oldest first (for export), read `batch` at a time."""
        key = ws_key(team, "audit")
        lower: bytes | str = "-"
        while True:
            rows = cast(StreamEntries, await self._redis.xrange(key, lower, "+", count=batch))
            for entry_id, fields in rows:
                yield _entry(entry_id, fields)
            if len(rows) < batch:
                return
            lower = b"(" + rows[-1][0]


def _entry(entry_id: bytes, fields: dict[bytes, bytes]) -> AuditEntry:
    entry = AuditEntry.model_validate_json(fields[b"entry"])
    return entry.model_copy(update={"entry_id": entry_id.decode()})
