"""The Celery application. Settings come from Django settings prefixed CELERY_ (config/settings/base.py): JSON only,
soft and hard time limits, Redis broker when REDIS_URL is set, eager (no worker) on embedded defaults, schedules in
the database (django-celery-beat, editable in admin).

    celery -A config worker -l info
    celery -A config beat -l info
"""
from __future__ import annotations

import os

from celery import Celery
from celery.signals import before_task_publish, task_prerun

from config.request_id import task_prerun_set_request_id, task_publish_add_request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("gatehouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# X-Request-ID correlation from the request that enqueues a task to the task's log lines (config.request_id).
before_task_publish.connect(task_publish_add_request_id)
task_prerun.connect(task_prerun_set_request_id)
