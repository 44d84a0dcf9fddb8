"""manifest/slack.yaml against Slack's official app manifest schema (slackapi/manifest-schema).

The entry point is `manifest.schema.json`: it picks the v1 or v2 schema by
`_metadata.major_version` through `$ref`s to raw.githubusercontent.com URLs. Those URLs are
served from the local copies in tests/fixtures/slack/manifest-schema (no network at test time).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "manifest" / "slack.yaml"
SCHEMA_DIR = ROOT / "tests" / "fixtures" / "slack" / "manifest-schema"
REMOTE_BASE = "https://raw.githubusercontent.com/slackapi/manifest-schema/v0.5.0/schemas/"

# Adding a scope (or an event) is a conscious change: update this list and the README.
EXPECTED_BOT_SCOPES = {
    "commands",
    "chat:write",
    "files:write",
    "users:read",
    "users:read.email",
    "app_mentions:read",
    "im:write",
    "im:history",
    "channels:history",
    "groups:history",
}
EXPECTED_BOT_EVENTS = {"app_home_opened", "app_mention", "app_uninstalled", "tokens_revoked"}


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _validator() -> Draft7Validator:
    registry: Registry[Any] = Registry()
    for path in sorted((SCHEMA_DIR / "schemas").glob("manifest.schema.*.json")):
        resource = Resource.from_contents(_load_json(path), default_specification=DRAFT7)
        registry = registry.with_resource(REMOTE_BASE + path.name, resource)
    schema = _load_json(SCHEMA_DIR / "manifest.schema.json")
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, registry=registry)


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    return _validator()


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _messages(validator: Draft7Validator, instance: Any) -> list[str]:
    """Every error; for the version dispatch, the errors of the version that applies."""
    messages: list[str] = []
    for error in validator.iter_errors(instance):
        for leaf in _leaves(error):
            where = "/".join(str(p) for p in leaf.absolute_path) or "<root>"
            line = f"{where}: {leaf.message[:300]}"
            if line not in messages:
                messages.append(line)
    return messages


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The leaf errors under a failed oneOf, ignoring branches whose version test failed.

    Each oneOf branch of the entry schema is allOf[<is this version?>, <$ref to the schema>].
    """
    if error.validator != "oneOf" or not error.context:
        return [error]
    skipped = {
        e.relative_schema_path[0]
        for e in error.context
        if list(e.relative_schema_path)[1:3] == ["allOf", 0]
    }
    applicable = [e for e in error.context if e.relative_schema_path[0] not in skipped]
    return [leaf for e in applicable for leaf in _leaves(e)] or [error]


def test_every_referenced_schema_is_available_locally() -> None:
    text = (SCHEMA_DIR / "manifest.schema.json").read_text(encoding="utf-8")
    refs = {
        line.split('"$ref":', 1)[1].strip().strip('",')
        for line in text.splitlines()
        if '"$ref":' in line
    }
    assert refs, "the entry schema should dispatch to the versioned schemas"
    for ref in refs:
        assert ref.startswith(REMOTE_BASE), ref
        assert (SCHEMA_DIR / "schemas" / ref.removeprefix(REMOTE_BASE)).is_file(), ref


def test_schema_accepts_its_own_valid_example(validator: Draft7Validator) -> None:
    example = _load_json(SCHEMA_DIR / "tests-manifests" / "v1" / "manifest.valid.json")
    assert _messages(validator, example) == []


def test_schema_rejects_its_own_invalid_example(validator: Draft7Validator) -> None:
    example = _load_json(SCHEMA_DIR / "tests-manifests" / "v1" / "manifest.invalid.json")
    messages = _messages(validator, example)
    assert len(messages) >= 1
    assert any("bad_param" in m for m in messages), messages


def test_schema_rejects_an_unknown_setting_in_a_manifest_like_ours(
    validator: Draft7Validator, manifest: dict[str, Any]
) -> None:
    broken = json.loads(json.dumps(manifest))
    broken["settings"]["not_a_setting"] = True
    broken["features"]["slash_commands"][0]["command"] = "slis"
    messages = _messages(validator, broken)
    assert any("not_a_setting" in m for m in messages), messages
    assert any(m.startswith("features/slash_commands/0/command:") for m in messages), messages


def test_manifest_is_valid_against_the_official_schema(
    validator: Draft7Validator, manifest: dict[str, Any]
) -> None:
    assert manifest["_metadata"]["major_version"] == 1
    assert _messages(validator, manifest) == []


def test_every_request_url_points_at_the_bolt_endpoint(manifest: dict[str, Any]) -> None:
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/slis"
    urls = [
        command["url"],
        manifest["settings"]["event_subscriptions"]["request_url"],
        manifest["settings"]["interactivity"]["request_url"],
    ]
    for url in urls:
        assert url.startswith("https://"), url
        assert url.endswith("/slack/events"), url
    assert len(set(urls)) == 1, "one public endpoint serves commands, events and actions"


def test_bot_scopes_are_exactly_the_least_set(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]
    assert set(scopes) == {"bot"}, "no user scopes"
    assert len(scopes["bot"]) == len(set(scopes["bot"]))
    assert set(scopes["bot"]) == EXPECTED_BOT_SCOPES


def test_bot_events_are_the_expected_ones(manifest: dict[str, Any]) -> None:
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert set(events) == EXPECTED_BOT_EVENTS


def test_app_home_and_bot_user(manifest: dict[str, Any]) -> None:
    features = manifest["features"]
    assert features["bot_user"]["display_name"] == "SLIS Bot"
    assert features["app_home"] == {
        "home_tab_enabled": True,
        "messages_tab_enabled": True,
        "messages_tab_read_only_enabled": False,
    }
    settings = manifest["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is False
    assert settings["token_rotation_enabled"] is False
    assert settings["org_deploy_enabled"] is False
