"""Rules shared by the catalog's writes: display text, sharing, switched-off features, exposed names."""
from __future__ import annotations

from django.conf import settings

from catalog.errors import CatalogError
from catalog.models import Upstream, Visibility
from catalog.naming import exposed_name
from config.display import DisplayTextError, display_text_clean
from teams.selectors import principal_for_user


def text_clean(value, label: str, max_length: int, *, required: bool = False, multiline: bool = False) -> str:
    try:
        return display_text_clean(value, label=label, max_length=max_length, required=required, multiline=multiline)
    except DisplayTextError as exc:
        raise CatalogError(str(exc)) from None


def sharing_check(visibility: str, team) -> None:
    if visibility not in Visibility.values:
        raise CatalogError(f"Visibility must be one of {', '.join(Visibility.values)}.")
    if visibility == Visibility.TEAM and team is None:
        raise CatalogError("Team visibility needs a team.")


def rest_allowed_check() -> None:
    if not settings.GATEHOUSE_REST_TOOLS:
        raise CatalogError("REST upstreams are switched off here (GATEHOUSE_REST_TOOLS=false).")


def clash_described(clash, viewer) -> str:
    """Describe the entry a name clashes with, without revealing another tenant's private catalog."""
    kind = clash._meta.verbose_name
    if viewer is None or type(clash).objects.visible_to(principal_for_user(viewer)).filter(pk=clash.pk).exists():
        return f"{kind} '{clash.original_name}' of upstream '{clash.upstream.name}'"
    return f"a {kind} of an upstream you cannot see"


def names_claim(model, upstream: Upstream, originals: list[str]) -> dict[str, str]:
    """original name → exposed name for an upstream's tools or prompts: kept where already known, derived for new
    ones, and refused when another upstream holds the name. Two queries, however many entries."""
    known = dict(model.objects.filter(upstream=upstream).values_list("original_name", "exposed_name"))
    names = {original: known.get(original) or exposed_name(upstream.slug, original) for original in originals}
    by_name = {name: original for original, name in names.items()}
    clash = model.objects.filter(exposed_name__in=by_name).exclude(upstream=upstream).select_related("upstream").first()
    if clash is not None:
        raise CatalogError(
            f"The {model._meta.verbose_name} name {clash.exposed_name!r} for '{by_name[clash.exposed_name]}' of "
            f"upstream '{upstream.name}' clashes with {clash_described(clash, upstream.owner)}."
        )
    return names


def owned_defaults(upstream: Upstream) -> dict:
    return {"owner_id": upstream.owner_id, "team_id": upstream.team_id, "visibility": upstream.visibility}
