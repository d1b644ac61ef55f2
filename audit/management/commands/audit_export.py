from __future__ import annotations

import sys
from datetime import datetime, time, timezone as dt_timezone

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from audit.chain import canonical_json
from audit.selectors import audit_event_record, audit_events_since


def _moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    moment = parse_datetime(value)
    if moment is None and (day := parse_date(value)) is not None:
        moment = datetime.combine(day, time.min)
    if moment is None:
        raise CommandError(f"{value!r} is not an ISO date or date-time.")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, dt_timezone.utc)


class Command(BaseCommand):
    help = (
        "Write audit events as JSON lines (one event per line, with its sequence number and chain hashes) for a "
        "SIEM. Dates are ISO 8601 (2026-11-01 or 2026-11-01T12:00:00Z), UTC unless an offset is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="Only events at or after this moment.")
        parser.add_argument("--until", help="Only events before this moment.")
        parser.add_argument("--output", "-o", help="Write to this file instead of standard output.")

    def handle(self, *args, since=None, until=None, output=None, **options):
        events = audit_events_since(_moment(since), _moment(until))
        out = open(output, "w", encoding="utf-8") if output else sys.stdout
        count = 0
        try:
            for event in events:
                out.write(canonical_json(audit_event_record(event)) + "\n")
                count += 1
        finally:
            if output:
                out.close()
        self.stderr.write(f"{count} audit events exported.")
