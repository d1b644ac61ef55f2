from __future__ import annotations

from django.core.management.base import BaseCommand

from config.schedules import schedules_ensure


class Command(BaseCommand):
    help = (
        "Create Gatehouse's periodic tasks (health checks, federation sync, retention) in django-celery-beat's tables "
        "when they are missing. Existing entries, and your edits to them in admin, are left alone. migrate runs this."
    )

    def handle(self, *args, **options):
        created = schedules_ensure()
        self.stdout.write(f"Created: {', '.join(created)}." if created else "Every schedule already exists.")
