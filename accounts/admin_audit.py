"""Every change made through the admin is audited with its actor, IP and a diff whose secrets are masked.

Model signals, gated on the request being an admin POST by a staff member, catch every save and delete the admin
makes (forms, inlines, actions, many-to-many fields) without each app's ModelAdmin having to remember it. The
receivers only compute the diff and hand it to accounts.services.admin_change_record."""
from __future__ import annotations

import datetime
import decimal
import re
import uuid

from django.conf import settings
from django.db import models

from accounts import services
from accounts.request_context import current_request

MASK = "********"
# Field names whose values never enter the audit log (mask_secrets in audit covers the common ones by key; these are
# the hashes and sealed values it would not recognise).
_SECRET_FIELD = re.compile(r"(pass|secret|token|key|credential|digest|hash|seed|sealed|cookie|^data$)", re.I)
# Rows the admin writes as a side effect of being used, not as a change someone made.
_UNTRACKED = {"audit", "admin", "sessions", "contenttypes"}
_UNTRACKED_MODELS = {"accounts.authevent"}


def _admin_request():
    request = current_request()
    if request is None or request.method != "POST" or not request.path.startswith("/" + settings.ADMIN_URL):
        return None
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff:
        return None
    return request


def _tracked(model) -> bool:
    return model._meta.app_label not in _UNTRACKED and model._meta.label_lower not in _UNTRACKED_MODELS


def _plain(value):
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return f"<{len(value)} bytes>"
    if value is None or isinstance(value, (str, int, float, bool, list, dict)):
        return value
    return str(value)


def _values(instance) -> dict:
    return {field.attname: field.value_from_object(instance) for field in instance._meta.concrete_fields}


def _diff(before: dict, after: dict) -> dict:
    changes = {}
    for name, value in after.items():
        old = before.get(name)
        if name in before and old == value:
            continue
        if _SECRET_FIELD.search(name):
            changes[name] = {"before": MASK if old not in (None, "") else old, "after": MASK if value else value}
        else:
            changes[name] = {"before": _plain(old), "after": _plain(value)}
    return changes


def on_pre_save(sender, instance, raw=False, **kwargs) -> None:
    if raw or not _tracked(sender) or _admin_request() is None or instance.pk is None:
        return
    names = [field.attname for field in sender._meta.concrete_fields]
    instance._gatehouse_admin_before = sender._base_manager.filter(pk=instance.pk).values(*names).first()


def on_post_save(sender, instance, created, raw=False, **kwargs) -> None:
    request = _admin_request()
    if raw or not _tracked(sender) or request is None:
        return
    before = getattr(instance, "_gatehouse_admin_before", None)
    instance._gatehouse_admin_before = None
    changes = _diff(before or {}, _values(instance))
    if created or before is None:
        for change in changes.values():
            change.pop("before", None)
    if changes:
        services.admin_change_record(
            request=request, action="add" if created or before is None else "change", target=instance,
            changes=changes,
        )


def on_post_delete(sender, instance, **kwargs) -> None:
    request = _admin_request()
    if request is None or not _tracked(sender):
        return
    changes = {name: change["after"] for name, change in _diff({}, _values(instance)).items()}
    services.admin_change_record(request=request, action="delete", target=instance, changes={"deleted": changes})


def on_m2m_changed(sender, instance, action, model, pk_set, **kwargs) -> None:
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    request = _admin_request()
    if request is None or not _tracked(type(instance)):
        return
    field = next(
        (f.name for f in instance._meta.many_to_many if getattr(f.remote_field, "through", None) is sender),
        sender._meta.model_name,
    )
    verb = {"post_add": "added", "post_remove": "removed", "post_clear": "cleared"}[action]
    services.admin_change_record(
        request=request, action="change", target=instance,
        changes={field: {verb: sorted(_plain(pk) for pk in (pk_set or []))}},
    )


def connect() -> None:
    models.signals.pre_save.connect(on_pre_save, dispatch_uid="accounts.admin_audit.pre_save")
    models.signals.post_save.connect(on_post_save, dispatch_uid="accounts.admin_audit.post_save")
    models.signals.post_delete.connect(on_post_delete, dispatch_uid="accounts.admin_audit.post_delete")
    models.signals.m2m_changed.connect(on_m2m_changed, dispatch_uid="accounts.admin_audit.m2m_changed")
