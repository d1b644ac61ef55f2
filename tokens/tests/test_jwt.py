"""JWTs: every supported algorithm round-trips with key files; alg none, wrong audience or issuer, missing exp or
jti, another environment, key confusion, revocation and over-long lifetimes are refused; the start-up check names
broken configuration; mint_jwt gives automation a working token for the API and MCP alike."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from io import StringIO

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.management import call_command
from django.test import override_settings
from rest_framework.test import APIClient

from tokens.checks import jwt_configuration
from tokens.jwt import jwt_mint
from tokens.models import TokenUsage
from tokens.services import jti_revoke

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
SECRET = "a-test-only-jwt-secret-long-enough-for-hs512-" + "x" * 32
CURVES = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}


def _keys(algorithm: str, folder) -> dict:
    if algorithm.startswith("HS"):
        return {"JWT_ALGORITHM": algorithm, "JWT_SECRET_KEY": SECRET}
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if algorithm.startswith("RS") \
        else ec.generate_private_key(CURVES[algorithm])
    private = folder / f"{algorithm}.key"
    public = folder / f"{algorithm}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return {"JWT_ALGORITHM": algorithm, "JWT_PRIVATE_KEY_PATH": str(private), "JWT_PUBLIC_KEY_PATH": str(public)}


def _get(raw: str, path: str = ME):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client.get(path)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(user, **extra) -> dict:
    now = int(time.time())
    claims = {"sub": str(user.pk), "aud": "gatehouse", "iss": "gatehouse", "iat": now, "exp": now + 300,
              "jti": "j-" + str(now)}
    claims.update(extra)
    return {key: value for key, value in claims.items() if value is not None}


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"])
def test_minted_jwt_authenticates_on_the_api(algorithm, owner, tmp_path):
    with override_settings(**_keys(algorithm, tmp_path)):
        assert jwt_configuration(None) == []
        raw, claims = jwt_mint(user=owner)
        assert pyjwt.get_unverified_header(raw)["alg"] == algorithm
        response = _get(raw)
    assert response.status_code == 200, response.content
    assert response.json()["email"] == owner.email


@override_settings(JWT_SECRET_KEY=SECRET)
def test_alg_none_is_refused(owner):
    raw = f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{_b64(json.dumps(_claims(owner)).encode())}."
    response = _get(raw)
    assert response.status_code == 401
    assert "configured algorithm" in response.json()["detail"] or "not valid" in response.json()["detail"]


@override_settings(JWT_SECRET_KEY=SECRET)
@pytest.mark.parametrize("claims, reason", [
    ({"aud": "someone-else"}, "another audience"),
    ({"iss": "someone-else"}, "another issuer"),
    ({"exp": None}, "'exp'"),
    ({"jti": None}, "'jti'"),
    ({"exp": int(time.time()) - 10}, "expired"),
    ({"exp": int(time.time()) + 400 * 86400}, "TOKEN_MAX_LIFETIME_DAYS"),
])
def test_bad_claims_are_refused_with_a_reason(owner, claims, reason):
    raw = pyjwt.encode(_claims(owner, **claims), SECRET, algorithm="HS256")
    response = _get(raw)
    assert response.status_code == 401
    assert reason in response.json()["detail"]


@override_settings(JWT_SECRET_KEY=SECRET, REQUIRE_TOKEN_EXPIRATION=False, REQUIRE_JTI=False)
def test_exp_and_jti_may_be_made_optional(owner):
    raw = pyjwt.encode(_claims(owner, exp=None, jti=None), SECRET, algorithm="HS256")
    assert _get(raw).status_code == 200


def test_hs_token_signed_with_the_rs_public_key_is_refused(owner, tmp_path):
    """Key confusion: the attacker knows the public key and signs an HS256 token with it as the HMAC secret."""
    keys = _keys("RS256", tmp_path)
    public_pem = (tmp_path / "RS256.pub").read_bytes()
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims(owner)).encode())
    signature = _b64(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    with override_settings(**keys):
        response = _get(f"{header}.{payload}.{signature}")
    assert response.status_code == 401
    assert "configured algorithm" in response.json()["detail"]


def test_jwt_signed_by_another_key_is_refused(owner, tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir(), theirs.mkdir()
    with override_settings(**_keys("ES256", theirs)):
        raw, _ = jwt_mint(user=owner)
    with override_settings(**_keys("ES256", ours)):
        assert _get(raw).status_code == 401


@override_settings(JWT_SECRET_KEY=SECRET, JWT_ENVIRONMENT="production")
def test_environment_claim_is_embedded_and_must_match(owner):
    raw, claims = jwt_mint(user=owner)
    assert claims["env"] == "production"
    assert _get(raw).status_code == 200
    staging = pyjwt.encode(_claims(owner, env="staging"), SECRET, algorithm="HS256")
    response = _get(staging)
    assert response.status_code == 401 and "another environment" in response.json()["detail"]


@override_settings(JWT_SECRET_KEY=SECRET)
def test_revoked_jti_is_refused_and_the_attempt_recorded(owner):
    raw, claims = jwt_mint(user=owner)
    assert _get(raw).status_code == 200
    jti_revoke(jti=claims["jti"], actor=owner)
    response = _get(raw)
    assert response.status_code == 401 and "revoked" in response.json()["detail"]
    assert TokenUsage.objects.filter(jti=claims["jti"], outcome="blocked").exists()


@override_settings(JWT_SECRET_KEY=SECRET)
def test_jwt_claims_narrow_like_token_scopes(owner, team):
    raw, _ = jwt_mint(user=owner, teams=[], permissions=["tools.read"])
    body = _get(raw).json()
    assert body["token"] == {"id": None, "servers": None, "permissions": ["tools.read"], "teams": []}


@override_settings(JWT_SECRET_KEY=SECRET)
def test_jwt_with_unknown_permission_claim_is_refused(owner):
    raw = pyjwt.encode(_claims(owner, permissions=["tools.everything"]), SECRET, algorithm="HS256")
    assert _get(raw).status_code == 401


def test_start_up_check_names_missing_key_files_and_unknown_algorithms(tmp_path):
    with override_settings(JWT_ALGORITHM="RS256", JWT_PUBLIC_KEY_PATH=str(tmp_path / "missing.pub"),
                           JWT_PRIVATE_KEY_PATH=""):
        errors = jwt_configuration(None)
    assert [error.id for error in errors] == ["tokens.E001"]
    assert "cannot be read" in errors[0].msg
    with override_settings(JWT_ALGORITHM="none"):
        assert [error.id for error in jwt_configuration(None)] == ["tokens.E001"]
    (tmp_path / "not-a-key.pub").write_text("hello")
    with override_settings(JWT_ALGORITHM="ES256", JWT_PUBLIC_KEY_PATH=str(tmp_path / "not-a-key.pub")):
        assert [error.id for error in jwt_configuration(None)] == ["tokens.E001"]
    with override_settings(JWT_ALGORITHM="HS256", JWT_SECRET_KEY="short"):
        assert [error.id for error in jwt_configuration(None)] == ["tokens.E001"]


@override_settings(JWT_SECRET_KEY=SECRET)
def test_mint_jwt_command_prints_a_working_token(owner):
    out = StringIO()
    call_command("mint_jwt", "--email", owner.email, "--lifetime", "5", stdout=out)
    raw = out.getvalue().strip().splitlines()[-1]
    claims = pyjwt.decode(raw, SECRET, algorithms=["HS256"], audience="gatehouse")
    assert claims["exp"] - claims["iat"] == 300
    assert _get(raw).json()["token"]["teams"] == sorted(owner.memberships.values_list("team_id", flat=True))


async def test_jwt_is_accepted_on_mcp_and_its_revocation_is_honoured_at_once(transactional_db, owner, settings):
    from asgiref.sync import sync_to_async

    from proxy.tests.conftest import Gateway

    settings.JWT_SECRET_KEY = SECRET
    raw, claims = await sync_to_async(jwt_mint)(user=owner)
    gateway = Gateway("/mcp", raw)
    assert (await gateway.initialize())["status"] == 200
    assert (await gateway.send(gateway.request("ping", {})))["status"] == 200
    await sync_to_async(jti_revoke)(jti=claims["jti"], actor=owner)
    assert (await gateway.send(gateway.request("ping", {})))["status"] == 401


@override_settings(JWT_SECRET_KEY=SECRET)
def test_server_scoped_jwt_cannot_use_the_management_api(owner):
    from tests.factories import VirtualServerFactory

    VirtualServerFactory(owner=owner, slug="demo")
    out = StringIO()
    call_command("mint_jwt", "--email", owner.email, "--server", "demo", stdout=out)
    assert _get(out.getvalue().strip().splitlines()[-1]).status_code == 403
