"""Writes for teams, memberships, invitations and roles. Every change that alters what someone may do bumps the
catalog version, so cached principals and snapshots are rebuilt in every process on their next request."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from audit.services import audit_record
from catalog.version import catalog_version_bump
from config.display import DisplayTextError, display_text_clean
from teams import roles
from teams.models import Invitation, Membership, PlatformRole, Role, Team


class TeamError(ValueError):
    """A refused team operation; the message is safe to show."""


def _unique_slug(base: str) -> str:
    base = slugify(base)[:48] or "team"
    slug = base
    while Team.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


def _check_team_quota(user) -> None:
    count = Membership.objects.filter(user=user, team__personal_for__isnull=True).count()
    if count >= settings.MAX_TEAMS_PER_USER:
        raise TeamError(f"A user may belong to at most {settings.MAX_TEAMS_PER_USER} teams.")


def _check_member_quota(team: Team) -> None:
    if team.memberships.count() >= settings.MAX_MEMBERS_PER_TEAM:
        raise TeamError(f"A team may have at most {settings.MAX_MEMBERS_PER_TEAM} members.")


def _display(value, label: str, max_length: int, *, required: bool = False, multiline: bool = False) -> str:
    try:
        return display_text_clean(value, label=label, max_length=max_length, required=required, multiline=multiline)
    except DisplayTextError as exc:
        raise TeamError(str(exc)) from None


@transaction.atomic
def team_create_personal(*, user) -> Team | None:
    """The user's personal team, created once; None when AUTO_CREATE_PERSONAL_TEAMS is off."""
    if not settings.AUTO_CREATE_PERSONAL_TEAMS:
        return None
    existing = Team.objects.filter(personal_for=user).first()
    if existing is not None:
        return existing
    team = Team.objects.create(
        name=f"{user.email} (personal)"[:100], slug=_unique_slug(f"personal-{user.email.split('@')[0]}"),
        personal_for=user,
    )
    Membership.objects.create(user=user, team=team, role=Membership.Role.OWNER)
    audit_record("team.create_personal", actor=None, target=team, data={"user": user.email})
    return team


@transaction.atomic
def team_create(*, name: str, creator, slug: str | None = None) -> Team:
    name = _display(name, "A team's name", 100, required=True)
    _check_team_quota(creator)
    if slug and Team.objects.filter(slug=slug).exists():
        raise TeamError("A team with that slug exists.")
    team = Team.objects.create(name=name, slug=slug or _unique_slug(name))
    Membership.objects.create(user=creator, team=team, role=Membership.Role.OWNER)
    catalog_version_bump()
    audit_record("team.create", actor=creator, target=team, data={"name": name})
    return team


@transaction.atomic
def team_update(*, team: Team, actor, name: str) -> Team:
    name = _display(name, "A team's name", 100, required=True)
    old = team.name
    team.name = name
    team.save(update_fields=["name"])
    audit_record("team.update", actor=actor, target=team, data={"name": [old, name]})
    return team


@transaction.atomic
def team_delete(*, team: Team, actor) -> None:
    if team.is_personal:
        raise TeamError("A personal team cannot be deleted.")
    audit_record("team.delete", actor=actor, target=team, data={"name": team.name})
    team.delete()
    catalog_version_bump()


@transaction.atomic
def membership_add(*, team: Team, user, role: str = Membership.Role.DEVELOPER, actor=None) -> Membership:
    if team.is_personal:
        raise TeamError("Nobody else can join a personal team.")
    if role not in Membership.Role.values:
        raise TeamError(f"Unknown role {role!r}.")
    if Membership.objects.filter(team=team, user=user).exists():
        raise TeamError("Already a member of this team.")
    _check_member_quota(team)
    _check_team_quota(user)
    membership = Membership.objects.create(team=team, user=user, role=role)
    catalog_version_bump()
    audit_record("team.member_add", actor=actor, target=team, data={"user": user.email, "role": role})
    return membership


def _is_owner_or_platform_admin(actor, team: Team) -> bool:
    if actor is None or actor.is_superuser:
        return True
    return Membership.objects.filter(team=team, user=actor, role=Membership.Role.OWNER).exists()


def _locked(membership: Membership) -> Membership:
    return Membership.objects.select_for_update().select_related("team", "user").get(pk=membership.pk)


def _check_not_last_owner(membership: Membership) -> None:
    # Lock the team's owner rows so two owners leaving at once cannot both pass.
    owners = list(
        Membership.objects.select_for_update().filter(team_id=membership.team_id, role=Membership.Role.OWNER)
    )
    if membership.role == Membership.Role.OWNER and len(owners) <= 1:
        raise TeamError("The last owner cannot leave or be removed or demoted: make someone else an owner first.")


@transaction.atomic
def membership_update(*, membership: Membership, actor, role: str | None = None, custom_role=None,
                      set_custom_role: bool = False) -> Membership:
    membership = _locked(membership)
    changes = {}
    if role is not None and role != membership.role:
        if role not in Membership.Role.values:
            raise TeamError(f"Unknown role {role!r}.")
        if membership.team.is_personal:
            raise TeamError("The role in a personal team cannot change.")
        touches_owner = Membership.Role.OWNER in (role, membership.role)
        if touches_owner and not _is_owner_or_platform_admin(actor, membership.team):
            raise TeamError("Only an owner can make or unmake owners.")
        _check_not_last_owner(membership)
        changes["role"] = [membership.role, role]
        membership.role = role
    if set_custom_role and custom_role != membership.custom_role:
        changes["custom_role"] = [str(membership.custom_role or ""), str(custom_role or "")]
        membership.custom_role = custom_role
    if changes:
        membership.save(update_fields=["role", "custom_role"])
        catalog_version_bump()
        audit_record("team.member_update", actor=actor, target=membership.team,
                     data={"user": membership.user.email, **changes})
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor) -> None:
    """Remove a member (or, with actor == the member, leave). The last owner and personal teams refuse."""
    membership = _locked(membership)
    if membership.team.is_personal:
        raise TeamError("A personal team cannot be left.")
    _check_not_last_owner(membership)
    action = "team.leave" if actor is not None and actor.pk == membership.user_id else "team.member_remove"
    audit_record(action, actor=actor, target=membership.team, data={"user": membership.user.email})
    membership.delete()
    catalog_version_bump()


def _invitation_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def invitation_create(
    *, team: Team, email: str, role: str = Membership.Role.DEVELOPER, actor
) -> tuple[Invitation, str]:
    """An invitation and its secret token (returned once). The caller must have checked teams.manage."""
    if team.is_personal:
        raise TeamError("Nobody can be invited to a personal team.")
    if role not in Membership.Role.values:
        raise TeamError(f"Unknown role {role!r}.")
    if role == Membership.Role.OWNER and not _is_owner_or_platform_admin(actor, team):
        raise TeamError("Only an owner can invite another owner.")
    email = (email or "").strip().lower()
    if "@" not in email:
        raise TeamError("An invitation needs an email address.")
    if Membership.objects.filter(team=team, user__email=email).exists():
        raise TeamError("That user is already a member.")
    _check_member_quota(team)
    raw = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        team=team, email=email, role=role, digest=_invitation_digest(raw), invited_by=actor,
        expires_at=timezone.now() + timedelta(hours=settings.INVITATION_EXPIRY_HOURS),
    )
    audit_record("team.invite", actor=actor, target=team, data={"email": email, "role": role})
    return invitation, raw


def invitation_find(*, raw: str) -> Invitation | None:
    if not raw or len(raw) > 128:
        return None
    return Invitation.objects.select_related("team").filter(digest=_invitation_digest(raw)).first()


@transaction.atomic
def invitation_accept(*, raw: str, user) -> Membership:
    """Join the team of a pending invitation addressed to ``user``'s email. Single use."""
    found = invitation_find(raw=raw)
    invitation = Invitation.objects.select_for_update().filter(pk=found.pk).first() if found else None
    # One message for every kind of unusable invitation: the token is a bearer secret, so say nothing more.
    if invitation is None or invitation.email != user.email.lower():
        raise TeamError("This invitation is not valid for you.")
    if invitation.accepted_at is not None:
        raise TeamError("This invitation has already been used.")
    if invitation.revoked_at is not None or invitation.expires_at <= timezone.now():
        raise TeamError("This invitation has expired.")
    membership = membership_add(team=invitation.team, user=user, role=invitation.role, actor=user)
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record("team.invitation_accept", actor=user, target=invitation.team, data={"email": invitation.email})
    return membership


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor) -> Invitation:
    if invitation.revoked_at is None and invitation.accepted_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record("team.invitation_revoke", actor=actor, target=invitation.team, data={"email": invitation.email})
    return invitation


@transaction.atomic
def role_save(*, actor, name: str, permissions: list[str], description: str = "", role: Role | None = None) -> Role:
    """Create or change a custom role; unknown permissions and platform-only ones are refused."""
    try:
        granted = roles.permissions_check(permissions)
    except roles.UnknownPermission as exc:
        raise TeamError(str(exc)) from None
    if granted & roles.PLATFORM_ONLY:
        raise TeamError(f"Team roles cannot grant platform permissions: {sorted(granted & roles.PLATFORM_ONLY)}.")
    name = _display(name, "A role's name", 64, required=True)
    description = _display(description, "A role's description", 2000, multiline=True)
    role = role or Role()
    before = {"name": role.name, "permissions": role.permissions, "description": role.description}
    role.name, role.permissions, role.description = name, sorted(granted), description
    try:
        with transaction.atomic():
            role.save()
    except IntegrityError:
        raise TeamError("A role with that name exists.") from None
    catalog_version_bump()
    audit_record("role.save", actor=actor, target=role, data={"before": before, "permissions": role.permissions})
    return role


@transaction.atomic
def role_delete(*, role: Role, actor) -> None:
    if role.memberships.exists():
        raise TeamError("The role is assigned to members; unassign it first.")
    audit_record("role.delete", actor=actor, target=role, data={"name": role.name})
    role.delete()


@transaction.atomic
def platform_role_set(*, user, role: str | None, actor) -> None:
    if role is None:
        PlatformRole.objects.filter(user=user).delete()
    elif role in PlatformRole.Name.values:
        PlatformRole.objects.update_or_create(user=user, defaults={"role": role})
    else:
        raise TeamError(f"Unknown platform role {role!r}.")
    catalog_version_bump()
    audit_record("platform_role.set", actor=actor, target=user, data={"role": role})



@transaction.atomic
def platform_user_update(*, user, actor, **changes) -> object:
    """A platform admin changes a user's name, staff flag or active flag (deactivating ends their tokens' use)."""
    allowed = {"full_name", "is_active", "is_staff"}
    unknown = set(changes) - allowed
    if unknown:
        raise TeamError(f"Cannot change {', '.join(sorted(unknown))}.")
    if actor is not None and user.pk == actor.pk and changes.get("is_active") is False:
        raise TeamError("You cannot deactivate yourself.")
    before = {name: getattr(user, name) for name in changes}
    for name, value in changes.items():
        setattr(user, name, value)
    if changes:
        user.save(update_fields=list(changes))
        catalog_version_bump()
        audit_record("user.update", actor=actor, target=user, data={"before": before, "after": changes})
    return user
