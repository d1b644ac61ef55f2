from __future__ import annotations

from celery import shared_task

from audit.retention import retention_run


@shared_task(ignore_result=True, soft_time_limit=3000, time_limit=3600)
def retention_purge() -> dict[str, int]:
    return retention_run(via="task")
