"""manifest/teams against Microsoft's official Teams app manifest schema, and `slis teams package`.

The schema is the project's copy in manifest/teams/schema (see its PROVENANCE.md); it is
draft-04 with a `\\p{L}` pattern, so it is checked and applied with `regex`, not `re`.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from jsonschema.exceptions import SchemaError
from PIL import Image
from typer.testing import CliRunner

from bot.cli import app
from bot.teams_package import (
    BOT_SCOPES,
    SCHEMA_FILE,
    SOURCE_DIR,
    TEMPLATE_HOST,
    TEMPLATE_ID,
    InvalidManifest,
    build_package,
    fill,
    load_manifest,
    rule_problems,
    schema_problems,
    schema_validator,
    validate,
)

APP_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
SCHEMA = SOURCE_DIR / SCHEMA_FILE


@pytest.fixture
def manifest() -> dict[str, Any]:
    return load_manifest()


def _problems(manifest: dict[str, Any], source: Path = SOURCE_DIR) -> list[str]:
    with pytest.raises(InvalidManifest) as caught:
        validate(manifest, source)
    assert str(caught.value).startswith("The Teams app manifest has")
    return caught.value.problems


def test_the_schema_needs_regex_and_is_valid_with_it() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert "\\p{L}" in SCHEMA.read_text(encoding="utf-8")
    # Python's `re` cannot compile the \p{L} pattern: the plain check fails; the regex-aware
    # one (schema_validator checks the schema first) passes.
    with pytest.raises(SchemaError, match="is not a 'regex'"):
        Draft4Validator.check_schema(schema)
    schema_validator(SCHEMA)


def test_the_regex_pattern_is_applied() -> None:
    validator = schema_validator(SCHEMA)
    subschema = {"type": "string", "pattern": "^[\\p{L}][\\p{L}0-9._]*$"}
    checker = type(validator)(subschema)
    assert checker.is_valid("Élève2.x")
    assert not checker.is_valid("2nd")


def test_the_template_validates(manifest: dict[str, Any]) -> None:
    assert manifest["manifestVersion"] == "1.30"
    assert schema_problems(manifest, SCHEMA) == []
    validate(manifest)


def test_the_filled_manifest_validates(manifest: dict[str, Any]) -> None:
    filled = fill(manifest, APP_ID.upper(), "slis.essex.example")
    validate(filled)
    assert filled["id"] == filled["bots"][0]["botId"] == APP_ID
    assert filled["validDomains"] == ["slis.essex.example"]
    assert TEMPLATE_HOST not in json.dumps(filled)
    assert TEMPLATE_ID not in json.dumps(filled)


def test_one_bot_in_every_scope_with_a_command_list_each(manifest: dict[str, Any]) -> None:
    (bot,) = manifest["bots"]
    assert set(bot["scopes"]) == set(BOT_SCOPES)
    lists = {scope: cl["commands"] for cl in bot["commandLists"] for scope in cl["scopes"]}
    assert set(lists) == set(BOT_SCOPES)
    personal = {c["title"] for c in lists["personal"]}
    assert {"help", "healthcheck", "support", "meeting", "remind", "actions"} <= personal
    for commands in lists.values():
        assert 1 <= len(commands) <= 10
        assert all(c["description"] for c in commands)


def test_command_titles_are_real_subcommands(manifest: dict[str, Any]) -> None:
    known = {
        "help", "whoami", "school", "partnership", "quadrant", "remind", "reminders",
        "healthcheck", "support", "meeting", "actions",
    }  # fmt: skip
    for command_list in manifest["bots"][0]["commandLists"]:
        for command in command_list["commands"]:
            assert command["title"] in known, command["title"]


def test_a_command_title_too_long_is_refused(manifest: dict[str, Any]) -> None:
    manifest["bots"][0]["commandLists"][0]["commands"][1]["title"] = "x" * 33
    problems = _problems(manifest)
    assert problems == [
        f"bots/0/commandLists/0/commands/1/title: {'x' * 33!r} is 33 characters, at most 32"
    ]


def test_too_many_commands_and_a_long_description_are_refused(manifest: dict[str, Any]) -> None:
    commands = manifest["bots"][0]["commandLists"][1]["commands"]
    commands[0]["description"] = "d" * 129
    commands.extend({"title": f"extra{i}", "description": "more"} for i in range(3))
    problems = _problems(manifest)
    assert "bots/0/commandLists/1/commands: 12 commands, at most 10" in problems
    assert "bots/0/commandLists/1/commands/0/description: 129 characters, at most 128" in problems


def test_a_missing_scope_is_refused(manifest: dict[str, Any]) -> None:
    bot = manifest["bots"][0]
    bot["scopes"] = ["personal", "team"]
    bot["commandLists"] = [cl for cl in bot["commandLists"] if cl["scopes"] != ["groupChat"]]
    assert _problems(manifest) == [
        "bots/0/scopes: missing scope(s) groupChat",
        "bots/0/commandLists: no command list for scope(s) groupChat",
    ]


def test_schema_errors_are_named_by_path(manifest: dict[str, Any]) -> None:
    manifest["bots"][0]["scopes"].append("meeting")
    manifest["name"]["short"] = "S" * 31
    manifest["not_a_field"] = True
    problems = _problems(manifest)
    assert any(p.startswith("bots/0/scopes/3: 'meeting' is not one of") for p in problems)
    assert any(p.startswith("name/short: ") and "too long" in p for p in problems), problems
    assert any(p.startswith("<root>: ") and "not_a_field" in p for p in problems), problems
    assert rule_problems({"bots": []}) == ["bots: there must be exactly one bot"]


def test_wrong_icon_sizes_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "teams"
    shutil.copytree(SOURCE_DIR, source)
    Image.new("RGBA", (96, 96), (29, 79, 145, 255)).save(source / "color.png")
    Image.new("RGB", (32, 32), (255, 255, 255)).save(source / "outline.png")
    problems = _problems(load_manifest(source), source)
    assert problems == [
        "icons/color: color.png is 96x96, Teams wants 192x192",
        "icons/outline: outline.png has no transparency (white on transparent)",
    ]
    with pytest.raises(InvalidManifest):
        build_package(tmp_path / "app.zip", APP_ID, source=source)
    assert not (tmp_path / "app.zip").exists()


def test_the_committed_icons(manifest: dict[str, Any]) -> None:
    with Image.open(SOURCE_DIR / manifest["icons"]["color"]) as color:
        assert color.size == (192, 192)
        assert color.convert("RGBA").getextrema()[3][0] == 255, "full colour: opaque"
    with Image.open(SOURCE_DIR / manifest["icons"]["outline"]) as outline:
        rgba = outline.convert("RGBA")
        assert rgba.size == (32, 32)
        raw = rgba.tobytes()
        pixels = [tuple(raw[i : i + 4]) for i in range(0, len(raw), 4)]
        assert {px[:3] for px in pixels if px[3] > 0} == {(255, 255, 255)}, "white only"
        assert any(px[3] == 0 for px in pixels), "on transparent"


def _zip_contents(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_package_holds_the_manifest_and_both_icons(tmp_path: Path) -> None:
    out = tmp_path / "out" / "slis.zip"
    build_package(out, APP_ID, "slis.essex.example")
    files = _zip_contents(out)
    assert sorted(files) == ["color.png", "manifest.json", "outline.png"]
    packaged = json.loads(files["manifest.json"])
    validate(packaged)
    assert packaged["id"] == packaged["bots"][0]["botId"] == APP_ID
    assert packaged["icons"] == {"color": "color.png", "outline": "outline.png"}
    with Image.open(io.BytesIO(files["color.png"])) as color:
        assert (color.format, color.size) == ("PNG", (192, 192))
    with Image.open(io.BytesIO(files["outline.png"])) as outline:
        assert (outline.format, outline.size) == ("PNG", (32, 32))
        assert outline.mode == "RGBA"


def test_the_same_inputs_make_the_same_zip(tmp_path: Path) -> None:
    build_package(tmp_path / "a.zip", APP_ID)
    build_package(tmp_path / "b.zip", APP_ID)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.delenv("TEAMS_APP_ID", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env from the working tree
    return CliRunner()


def test_cli_refuses_without_an_app_id(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["teams", "package", "--out", str(tmp_path / "app.zip")])
    assert result.exit_code == 2
    assert "Give the bot's Microsoft App ID: --app-id ID, or set TEAMS_APP_ID" in result.output
    assert not (tmp_path / "app.zip").exists()


def test_cli_refuses_an_app_id_that_is_not_a_guid(runner: CliRunner, tmp_path: Path) -> None:
    for bad in ("slis-bot", TEMPLATE_ID):
        result = runner.invoke(app, ["teams", "package", "--app-id", bad])
        assert result.exit_code == 2
        assert "is not a Microsoft App ID" in result.output
    assert list(tmp_path.iterdir()) == []


def test_cli_builds_the_package(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(
        app, ["teams", "package", "--app-id", APP_ID, "--host", "slis.essex.example"]
    )
    assert result.exit_code == 0, result.output
    assert f"for app {APP_ID}" in result.output
    assert sorted(_zip_contents(tmp_path / "slis-bot-teams.zip")) == [
        "color.png",
        "manifest.json",
        "outline.png",
    ]
    # From the setting; without --host it warns that the links are still the template's.
    monkeypatch.setenv("TEAMS_APP_ID", APP_ID)
    result = runner.invoke(app, ["teams", "package", "--out", "from-env.zip"])
    assert result.exit_code == 0, result.output
    assert f"still point at {TEMPLATE_HOST}" in result.output
    packaged = json.loads(_zip_contents(tmp_path / "from-env.zip")["manifest.json"])
    assert packaged["bots"][0]["botId"] == APP_ID
