from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from audit.writer import AuditWriter, audit_security_event_async, audit_writer

pytestmark = pytest.mark.django_db(transaction=True)


async def test_security_events_from_async_code_are_written_without_waiting(owner):
    await asyncio.gather(*(
        audit_security_event_async("token.blocked", actor=owner, via="mcp", ip="192.0.2.1", data={"n": i})
        for i in range(30)
    ))
    assert await sync_to_async(audit_writer().flush)()
    events = await sync_to_async(list)(AuditEvent.objects.filter(action="token.blocked").values_list("security", "ip"))
    assert events == [(True, "192.0.2.1")] * 30
    assert (await sync_to_async(audit_chain_verify)()).ok


async def test_a_full_queue_applies_back_pressure_and_drops_nothing(owner):
    writer = AuditWriter(size=2)
    await asyncio.gather(*(writer.asubmit({"action": "burst", "data": {"n": i}}) for i in range(25)))
    assert await sync_to_async(writer.flush)()
    assert await sync_to_async(AuditEvent.objects.filter(action="burst").count)() == 25
