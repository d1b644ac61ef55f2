"""Federation sync: re-discover an upstream and record what changed (new, changed, vanished entries)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from django.db import transaction

from audit.services import audit_record
from catalog.models import Prompt, Resource, ResourceTemplate, Tool, Upstream
from catalog.services import DiscoveryReport, upstream_discover

# kind → (model, key field, fields whose change counts as "changed")
_KINDS = {
    "tools": (Tool, "original_name", ("title", "description", "input_schema", "output_schema", "annotations")),
    "prompts": (Prompt, "original_name", ("title", "description", "arguments")),
    "resources": (Resource, "uri", ("name", "title", "description", "mime_type", "size", "annotations")),
    "resource_templates": (ResourceTemplate, "uri_template", ("name", "title", "description", "mime_type", "annotations")),
}


@dataclass
class CatalogDiff:
    new: dict[str, list[str]] = field(default_factory=dict)
    changed: dict[str, list[str]] = field(default_factory=dict)
    vanished: dict[str, list[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.new or self.changed or self.vanished)

    def as_data(self) -> dict:
        return {"new": self.new, "changed": self.changed, "vanished": self.vanished}


def _fingerprints(upstream: Upstream) -> dict[str, dict[str, str]]:
    """kind → {key: digest of the advertised fields} for the entries the upstream currently offers."""
    seen = {}
    for kind, (model, key, fields) in _KINDS.items():
        rows = model.objects.filter(upstream=upstream, missing_since__isnull=True).values(key, *fields)
        seen[kind] = {
            row[key]: hashlib.sha256(json.dumps([row[f] for f in fields], sort_keys=True, default=str).encode()).hexdigest()
            for row in rows
        }
    return seen


def catalog_diff(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> CatalogDiff:
    diff = CatalogDiff()
    for kind in _KINDS:
        old, new = before.get(kind, {}), after.get(kind, {})
        for bucket, names in (
            (diff.new, sorted(new.keys() - old.keys())),
            (diff.vanished, sorted(old.keys() - new.keys())),
            (diff.changed, sorted(k for k in old.keys() & new.keys() if old[k] != new[k])),
        ):
            if names:
                bucket[kind] = names
    return diff


def upstream_sync(*, upstream: Upstream, via: str = "task") -> tuple[DiscoveryReport, CatalogDiff]:
    """Re-discover ``upstream``; the catalog is brought in line by upstream_discover and the diff is audited."""
    before = _fingerprints(upstream)
    report = upstream_discover(upstream=upstream)
    diff = catalog_diff(before, _fingerprints(upstream)) if report.ok else CatalogDiff()
    if report.ok and not diff.empty:
        with transaction.atomic():
            audit_record("upstream.sync", via=via, target=upstream, data=diff.as_data())
    return report, diff
