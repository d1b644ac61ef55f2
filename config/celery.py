"""The Celery application. Settings come from Django settings prefixed CELERY_ (config/settings/base.py): JSON only,
soft and hard time limits, Redis broker when REDIS_URL is set, eager (no worker) on embedded defaults, schedules in
the database (django-celery-beat, editable in admin).

    celery -A config worker -l info
    celery -A config beat -l info
"""
from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("gatehouse")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
