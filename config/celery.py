"""The Celery application. Settings come from Django settings prefixed CELERY_ (config/settings/base.py): JSON only,
soft and hard time limits, Redis broker when REDIS_URL is set, eager (no worker) on embedded defaults, schedules in
the database (django-celery-beat, editable in admin).

    celery -A config worker -l info
    celery -A config beat -l info
"""
from __future__ import annotations

import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_process_init

from config.request_id import task_prerun_set_request_id, task_publish_add_request_id
from config.tracing import task_postrun_end_span, task_prerun_start_span, task_publish_inject_trace

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("gatehouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# X-Request-ID correlation from the request that enqueues a task to the task's log lines (config.request_id).
before_task_publish.connect(task_publish_add_request_id)
task_prerun.connect(task_prerun_set_request_id)
# OpenTelemetry (config.tracing): the enqueuing request's trace context travels in the task's headers and the task
# run continues it. The worker turns tracing on (when configured) once Django is set up.
before_task_publish.connect(task_publish_inject_trace)
task_prerun.connect(task_prerun_start_span)
task_postrun.connect(task_postrun_end_span)


@worker_process_init.connect
def _tracing_in_worker(**kwargs) -> None:
    from config.tracing import tracing_setup

    tracing_setup()
