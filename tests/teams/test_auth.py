"""The inbound checks the Teams SDK leaves out: activity shape, tenant, key endorsement."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt
import pytest

from handlers.teams.auth import (
    Refused,
    SigningKeys,
    activity_tenant,
    bearer_token,
    check_endorsement,
    check_tenant,
    endorsed,
    jwks_uri,
    key_id,
    parse_activity,
)
from tests.fakes.botframework_auth import FakeBotFrameworkAuth, SigningKey, botframework_auth

__all__ = ["botframework_auth"]

ROOT = Path(__file__).parent.parent.parent
TENANT = "0b5e55e0-0000-4000-8000-00000000e55e"
ACTIVITY: dict[str, Any] = {
    "type": "message",
    "channelId": "msteams",
    "serviceUrl": "https://smba.trafficmanager.net/uk/",
    "conversation": {"id": "a:1", "tenantId": TENANT},
    "text": "help",
}


def refused(call: Any, *args: Any) -> Refused:
    with pytest.raises(Refused) as caught:
        call(*args)
    return caught.value


# --- the activity -----------------------------------------------------------------------


def test_a_well_formed_activity_is_taken_as_sent() -> None:
    assert parse_activity(json.dumps(ACTIVITY).encode()) == ACTIVITY


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{not json",
        b"\xff\xfe",
        b"[" * 100_000,
        b"[]",
        b'"message"',
        b"42",
        b"null",
        json.dumps({k: v for k, v in ACTIVITY.items() if k != "type"}).encode(),
        json.dumps(ACTIVITY | {"type": 7}).encode(),
        json.dumps(ACTIVITY | {"type": ""}).encode(),
        json.dumps({k: v for k, v in ACTIVITY.items() if k != "channelId"}).encode(),
        json.dumps(ACTIVITY | {"serviceUrl": None}).encode(),
    ],
    ids=[
        "empty",
        "broken",
        "not-utf8",
        "deep",
        "list",
        "string",
        "number",
        "null",
        "no-type",
        "type-not-string",
        "type-empty",
        "no-channel",
        "no-service-url",
    ],
)
def test_anything_else_is_malformed(raw: bytes) -> None:
    assert refused(parse_activity, raw).status == 400


def test_the_tenant_is_read_from_the_conversation_first() -> None:
    both = ACTIVITY | {"channelData": {"tenant": {"id": "other"}}}
    assert activity_tenant(both) == TENANT


def test_the_tenant_is_read_from_channel_data_when_the_conversation_has_none() -> None:
    only_channel_data = ACTIVITY | {
        "conversation": {"id": "a:1"},
        "channelData": {"tenant": {"id": TENANT}},
    }
    assert activity_tenant(only_channel_data) == TENANT


@pytest.mark.parametrize(
    "activity",
    [
        {"type": "message"},
        {"conversation": "a:1", "channelData": ["x"]},
        {"conversation": {"tenantId": 5}, "channelData": {"tenant": "x"}},
        {"conversation": {"tenantId": ""}, "channelData": {"tenant": {"id": ""}}},
    ],
)
def test_no_tenant(activity: dict[str, Any]) -> None:
    assert activity_tenant(activity) is None
    assert refused(check_tenant, activity, TENANT).status == 403


def test_the_served_tenant_passes_in_any_case() -> None:
    assert check_tenant(ACTIVITY, TENANT.upper()) is None  # Refused would be raised


def test_another_tenant_is_refused() -> None:
    other = ACTIVITY | {"conversation": {"id": "a:1", "tenantId": "72f988bf-0000"}}
    problem = refused(check_tenant, other, TENANT)
    assert (problem.status, problem.reason) == (403, "tenant not served here")


# --- the token's signing key -------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Basic dXNlcjpwYXNz"}, {"authorization": "Bearer "}, {"x": "y"}],
)
def test_no_bearer_token(headers: dict[str, str]) -> None:
    assert refused(bearer_token, headers).status == 401


def test_the_bearer_token() -> None:
    assert bearer_token({"authorization": "Bearer abc.def.ghi"}) == "abc.def.ghi"


def test_a_token_that_is_no_jwt_or_names_no_key_is_refused() -> None:
    assert refused(key_id, "not-a-jwt").status == 401
    no_kid = jwt.encode({"iss": "x"}, "a-test-secret-of-32-bytes-or-more!!", algorithm="HS256")
    assert refused(key_id, no_kid).reason == "the token names no signing key"


def test_endorsements() -> None:
    assert endorsed(["msteams", "webchat"], "msteams")
    assert endorsed([" msteams "], "msteams")
    assert not endorsed(["skype", "webchat"], "msteams")
    assert not endorsed(["MSTEAMS"], "msteams")
    assert not endorsed([], "msteams")
    # An activity that names no channel makes no claim this bot can check.
    assert not endorsed(["msteams"], "")


def test_the_key_set_is_the_one_the_sdk_checks_signatures_with() -> None:
    # Imported here, through the endpoint module: microsoft_teams.apps loads a .env on import
    # unless the endpoint module has switched that off first.
    from handlers.teams import endpoint

    assert os.environ["PYTHON_DOTENV_DISABLED"] == "1", endpoint.__name__
    from microsoft_teams.apps.auth.token_validator import TokenValidator

    url = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    sdk = TokenValidator.for_service("app-id", cloud=None)
    assert (
        jwks_uri(url)
        == sdk.options.jwks_uri
        == "https://login.botframework.com/v1/.well-known/keys"
    )
    assert jwks_uri("http://127.0.0.1:5/v1/.well-known/openidconfiguration").endswith(
        "/v1/.well-known/keys"
    )


def test_published_keys_carry_their_endorsements(botframework_auth: FakeBotFrameworkAuth) -> None:
    keys = SigningKeys(botframework_auth.jwks_uri)
    assert keys.endorsements_of(botframework_auth.trusted.kid) == {"msteams", "webchat"}
    assert keys.endorsements_of(botframework_auth.unendorsed.kid) == {"skype"}
    # The key set is fetched once and then answered from PyJWT's cache.
    assert botframework_auth.keys_calls() == 1


def test_an_unknown_key_is_refused(botframework_auth: FakeBotFrameworkAuth) -> None:
    keys = SigningKeys(botframework_auth.jwks_uri)
    problem = refused(keys.endorsements_of, "no-such-kid")
    assert (problem.status, problem.reason) == (401, "signing key not in the published key set")


def test_a_key_published_later_is_found_after_pyjwts_cooldown(
    botframework_auth: FakeBotFrameworkAuth,
) -> None:
    keys = SigningKeys(botframework_auth.jwks_uri)
    keys.cooldown_duration = 0
    assert keys.endorsements_of(botframework_auth.trusted.kid)
    botframework_auth.publish(SigningKey.make("slis-test-rotated", "msteams"))
    assert keys.endorsements_of("slis-test-rotated") == {"msteams"}


def test_unavailable_keys_are_a_503_not_a_refusal_of_the_sender(
    botframework_auth: FakeBotFrameworkAuth,
) -> None:
    botframework_auth.fail(times=2)
    keys = SigningKeys(botframework_auth.jwks_uri)
    assert refused(keys.endorsements_of, botframework_auth.trusted.kid).status == 503


def test_the_endorsement_check(botframework_auth: FakeBotFrameworkAuth) -> None:
    keys = SigningKeys(botframework_auth.jwks_uri)
    fake = botframework_auth
    check_endorsement(keys, fake.sign(ACTIVITY, app_id="app"), "msteams")
    not_endorsed = fake.sign(ACTIVITY, app_id="app", key=fake.unendorsed)
    assert refused(check_endorsement, keys, not_endorsed, "msteams").status == 401
    assert (
        refused(check_endorsement, keys, fake.sign(ACTIVITY, app_id="app"), "skype").status == 401
    )


# --- the SDK's .env loading --------------------------------------------------------------


def _imported_in(directory: Path, module: str) -> dict[str, str | None]:
    """What the environment holds after importing `module` with `directory` as the working
    directory (a fresh interpreter: the SDK loads .env once, at its first import)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_DOTENV_DISABLED"}
    env["PYTHONPATH"] = str(ROOT)
    script = (
        f"import json, os, {module}; "
        "print(json.dumps({k: os.environ.get(k) for k in "
        "('DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS', 'CLIENT_SECRET')}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found: dict[str, str | None] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_importing_the_endpoint_loads_no_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS=true\nCLIENT_SECRET=from-a-stray-env-file\n"
    )
    # The SDK on its own would read it (this is what the endpoint module prevents) ...
    assert _imported_in(tmp_path, "microsoft_teams.apps") == {
        "DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS": "true",
        "CLIENT_SECRET": "from-a-stray-env-file",
    }
    # ... and through the endpoint module it does not.
    assert _imported_in(tmp_path, "handlers.teams.endpoint") == {
        "DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS": None,
        "CLIENT_SECRET": None,
    }
