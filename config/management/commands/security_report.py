from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from config.posture import posture_report


class Command(BaseCommand):
    help = "Print Gatehouse's security posture: feature flags, protective settings and posture findings."
    # The report must print even when findings are errors that stop every other command.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json", help="Machine-readable output.")
        parser.add_argument("--no-database", action="store_true", help="Skip the checks that read the database.")

    def handle(self, *args, as_json: bool = False, no_database: bool = False, **options) -> None:
        report = posture_report(database=not no_database)
        if as_json:
            self.stdout.write(json.dumps(report, indent=2))
            return
        self.stdout.write(f"Environment: {report['environment']}")
        self.stdout.write(f"REQUIRE_STRONG_SECRETS: {report['require_strong_secrets']}")
        self.stdout.write("Feature flags:")
        for name, on in report["feature_flags"].items():
            self.stdout.write(f"  {name:<32} {'on' if on else 'off'}")
        self.stdout.write("Settings:")
        for name, value in report["settings"].items():
            self.stdout.write(f"  {name:<32} {value}")
        if not report["findings"]:
            self.stdout.write(self.style.SUCCESS("Findings: none"))
            return
        self.stdout.write(f"Findings: {len(report['findings'])}")
        for finding in report["findings"]:
            style = self.style.ERROR if finding["level"] == "error" else self.style.WARNING
            self.stdout.write(style(f"  [{finding['level']}] {finding['id']}: {finding['message']}"))
            if finding["hint"]:
                self.stdout.write(f"      {finding['hint']}")

