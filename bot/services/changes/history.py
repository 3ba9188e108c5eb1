"""Each step of a request's life, appended to its workspace's audit log."""

from __future__ import annotations

from bot.domain import AuditEntry, AuditEvent, ChangeRequest, Person
from bot.store.audit import AuditLog


async def record(
    audit: AuditLog, event: AuditEvent, request: ChangeRequest, actor: Person | None = None, **fields: object
) -> None:
    await audit.append(
        request.team,
        AuditEntry(
            event=event,
            actor=actor,
            request_id=request.id,
            test_id=request.change.test_id,
            change=request.change,
            **fields,  # type: ignore[arg-type]
        ),
    )
