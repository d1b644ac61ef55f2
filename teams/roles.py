"""Permissions and the roles that grant them: the one documented list.

A permission is a string ``<area>.<verb>``. Every name used anywhere must be in ``PERMISSIONS``; ``permission_check``
raises on an unknown name, so a typo fails loudly instead of silently denying (or allowing) something.

Where permissions come from:
- the platform role (``PlatformRole``: admin or viewer; ``is_superuser`` counts as admin) applies to every object;
- a team role (``Membership.role``, or the membership's custom ``Role``) applies to that team's objects;
- what a user owns they may do anything with (``OWNER_PERMISSIONS``), and anyone may read and use public objects
  (``PUBLIC_PERMISSIONS``);
- a token can only narrow all of this (its permission scope, servers, teams).
"""
from __future__ import annotations

TOOLS_READ = "tools.read"
TOOLS_EXECUTE = "tools.execute"
RESOURCES_READ = "resources.read"
PROMPTS_READ = "prompts.read"
SERVERS_READ = "servers.read"
SERVERS_USE = "servers.use"
SERVERS_MANAGE = "servers.manage"
UPSTREAMS_READ = "upstreams.read"
UPSTREAMS_CREATE = "upstreams.create"
UPSTREAMS_MANAGE = "upstreams.manage"
TOKENS_CREATE = "tokens.create"
TOKENS_MANAGE = "tokens.manage"
TEAMS_CREATE = "teams.create"
TEAMS_MANAGE = "teams.manage"
ADMIN_USER_MANAGEMENT = "admin.user_management"
ADMIN_ROLE_MANAGEMENT = "admin.role_management"
ADMIN_SECURITY_AUDIT = "admin.security_audit"

PERMISSIONS: dict[str, str] = {
    TOOLS_READ: "See tools in the catalog and in MCP tools/list.",
    TOOLS_EXECUTE: "Call tools (MCP tools/call). A tool that may not be called is not listed on MCP either.",
    RESOURCES_READ: "List and read resources and resource templates.",
    PROMPTS_READ: "List and get prompts.",
    SERVERS_READ: "See virtual servers in the management API.",
    SERVERS_USE: "Connect to a virtual server over MCP.",
    SERVERS_MANAGE: "Create, change and delete virtual servers.",
    UPSTREAMS_READ: "See upstreams.",
    UPSTREAMS_CREATE: "Register upstreams.",
    UPSTREAMS_MANAGE: "Change upstreams and their discovered tools, resources and prompts; run discovery.",
    TOKENS_CREATE: "Create API tokens for oneself (and team tokens, with tokens.manage in the team).",
    TOKENS_MANAGE: "See and revoke the team's tokens; create team tokens.",
    TEAMS_CREATE: "Create teams (within MAX_TEAMS_PER_USER).",
    TEAMS_MANAGE: "Rename a team, invite, remove members and change their roles.",
    ADMIN_USER_MANAGEMENT: "Create, change and deactivate users; platform only.",
    ADMIN_ROLE_MANAGEMENT: "Create and change custom roles; platform only.",
    ADMIN_SECURITY_AUDIT: "Read the audit log and token usage of everyone; platform only.",
}

ALL = frozenset(PERMISSIONS)
READ = frozenset({TOOLS_READ, RESOURCES_READ, PROMPTS_READ, SERVERS_READ, UPSTREAMS_READ})
PLATFORM_ONLY = frozenset({ADMIN_USER_MANAGEMENT, ADMIN_ROLE_MANAGEMENT, ADMIN_SECURITY_AUDIT})

# Anyone may read and use what is public; nobody manages it through its visibility alone.
PUBLIC_PERMISSIONS = READ | {TOOLS_EXECUTE, SERVERS_USE}
# Every object permission, for what one owns.
OWNER_PERMISSIONS = ALL - PLATFORM_ONLY - {TEAMS_CREATE}
# What every signed-in user may start on their own (objects they then own).
USER_PERMISSIONS = PUBLIC_PERMISSIONS | {UPSTREAMS_CREATE, SERVERS_MANAGE, TOKENS_CREATE, TEAMS_CREATE}

PLATFORM_ADMIN = "admin"
PLATFORM_VIEWER = "viewer"
PLATFORM_ROLES: dict[str, frozenset[str]] = {
    PLATFORM_ADMIN: ALL,
    PLATFORM_VIEWER: READ | {ADMIN_SECURITY_AUDIT},
}

_TEAM_VIEWER = READ | {SERVERS_USE}
_TEAM_DEVELOPER = _TEAM_VIEWER | {TOOLS_EXECUTE, UPSTREAMS_CREATE, TOKENS_CREATE}
_TEAM_ADMIN = ALL - PLATFORM_ONLY - {TEAMS_CREATE}
# Keys are Membership.Role values.
TEAM_ROLES: dict[str, frozenset[str]] = {
    "owner": _TEAM_ADMIN,
    "admin": _TEAM_ADMIN,
    "developer": _TEAM_DEVELOPER,
    "viewer": _TEAM_VIEWER,
}


class UnknownPermission(ValueError):
    pass


def permission_check(name: str) -> str:
    if name not in PERMISSIONS:
        raise UnknownPermission(f"Unknown permission {name!r}; see teams.roles.PERMISSIONS.")
    return name


def permissions_check(names) -> frozenset[str]:
    if isinstance(names, str):
        raise UnknownPermission("Permissions are a list of names, not one string.")
    return frozenset(permission_check(name) for name in names)
