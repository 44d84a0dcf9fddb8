"""The Microsoft Teams app package: manifest/teams checked and zipped for upload.

`manifest/teams/manifest.json` is a template: its app id and bot id are the nil GUID and its
URLs point at https://slis.example.org. `build_package` puts in the bot's Microsoft App ID (and,
if given, the bot's public host name), validates the result against the official Teams manifest
schema (a copy in manifest/teams/schema/, see PROVENANCE.md there) and against the limits Teams
enforces on upload that the schema does not state, checks the icons' sizes, and writes a zip
with manifest.json, color.png and outline.png at its root.

The schema is JSON Schema draft-04 and one of its patterns uses `\\p{L}`, which Python's `re`
cannot compile; the `regex` module does both the `pattern` keyword and the `regex` format here.
"""

from __future__ import annotations

import json
import struct
import zipfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import regex
from jsonschema import Draft4Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

SOURCE_DIR = Path(__file__).resolve().parents[1] / "manifest" / "teams"
SCHEMA_FILE = "schema/MicrosoftTeams.v1.30.schema.json"
TEMPLATE_ID = "00000000-0000-0000-0000-000000000000"
TEMPLATE_HOST = "slis.example.org"
BOT_SCOPES = ("personal", "team", "groupChat")
ICON_SIZES = {"color": (192, 192), "outline": (32, 32)}

# Limits Teams applies when an app is uploaded, stricter than the schema's.
MAX_COMMANDS = 10
MAX_TITLE = 32
MAX_DESCRIPTION = 128

_GUID = regex.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_HOST = regex.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class InvalidManifest(Exception):
    """The Teams manifest or its icons would be refused; each problem says where and why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            f"The Teams app manifest has {len(problems)} problem(s):\n  - "
            + "\n  - ".join(problems)
        )
        self.problems = problems


def _pattern(
    validator: Validator, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """The `pattern` keyword, matched with `regex` (which knows `\\p{L}`) instead of `re`."""
    if validator.is_type(instance, "string") and not regex.search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _format_checker() -> FormatChecker:
    """Draft-04's format checks, with `regex` compiling the schema's patterns."""
    checker = FormatChecker(Draft4Validator.FORMAT_CHECKER.checkers)
    checker.checks("regex", raises=regex.error)(_compiles)
    return checker


def _compiles(instance: object) -> bool:
    """The `regex` format: a string must compile (non-strings are another keyword's business)."""
    if isinstance(instance, str):
        regex.compile(instance)
    return True


TeamsManifestValidator: type[Validator] = validators.extend(  # type: ignore[no-untyped-call]
    Draft4Validator, {"pattern": _pattern}
)


@cache
def schema_validator(schema_path: Path) -> Validator:
    """A validator for the Teams schema at `schema_path`; the schema itself is checked first."""
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    checker = _format_checker()
    Draft4Validator.check_schema(schema, format_checker=checker)
    validator: Validator = TeamsManifestValidator(schema, format_checker=checker)
    return validator


def schema_problems(manifest: Any, schema_path: Path) -> list[str]:
    """Every place where `manifest` breaks the official schema, as `path: message`."""
    problems: list[str] = []
    errors = schema_validator(schema_path).iter_errors(manifest)
    for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        where = "/".join(str(p) for p in error.absolute_path) or "<root>"
        problems.append(f"{where}: {error.message[:300]}")
    return problems


def rule_problems(manifest: Any) -> list[str]:
    """What Teams refuses on upload, or this bot needs, beyond the schema."""
    if not isinstance(manifest, dict):
        return ["<root>: the manifest is not a JSON object"]
    problems: list[str] = []
    bots = manifest.get("bots")
    if not isinstance(bots, list) or len(bots) != 1 or not isinstance(bots[0], dict):
        return [*problems, "bots: there must be exactly one bot"]
    bot = bots[0]
    scopes = bot.get("scopes") or []
    missing = [s for s in BOT_SCOPES if s not in scopes]
    if missing:
        problems.append(f"bots/0/scopes: missing scope(s) {', '.join(missing)}")
    listed: set[str] = set()
    for i, command_list in enumerate(bot.get("commandLists") or []):
        where = f"bots/0/commandLists/{i}"
        listed.update(command_list.get("scopes") or [])
        commands = command_list.get("commands") or []
        if len(commands) > MAX_COMMANDS:
            problems.append(f"{where}/commands: {len(commands)} commands, at most {MAX_COMMANDS}")
        for j, command in enumerate(commands):
            title = str(command.get("title", ""))
            description = str(command.get("description", ""))
            if len(title) > MAX_TITLE:
                problems.append(
                    f"{where}/commands/{j}/title: {title!r} is {len(title)} characters,"
                    f" at most {MAX_TITLE}"
                )
            if len(description) > MAX_DESCRIPTION:
                problems.append(
                    f"{where}/commands/{j}/description: {len(description)} characters,"
                    f" at most {MAX_DESCRIPTION}"
                )
    unlisted = [s for s in BOT_SCOPES if s not in listed]
    if unlisted:
        problems.append(f"bots/0/commandLists: no command list for scope(s) {', '.join(unlisted)}")
    if manifest.get("id") != bot.get("botId"):
        problems.append("bots/0/botId: should be the app id (the bot's Microsoft App ID)")
    return problems


def png_info(data: bytes) -> tuple[int, int, bool]:
    """Width, height and whether the PNG can be transparent, read from its header chunks."""
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height, _depth, colour_type = struct.unpack(">IIBB", data[16:26])
    # Colour types 4 and 6 carry alpha; any other is transparent only through a tRNS chunk.
    transparent = colour_type in (4, 6) or b"tRNS" in data[: data.find(b"IDAT")]
    return width, height, transparent


def icon_problems(manifest: Any, source: Path) -> list[str]:
    """The icons the manifest names: present, PNG, the sizes Teams wants; outline transparent."""
    problems: list[str] = []
    icons = manifest.get("icons") if isinstance(manifest, dict) else None
    if not isinstance(icons, dict):
        return ["icons: missing"]
    for kind, size in ICON_SIZES.items():
        name = icons.get(kind)
        if not isinstance(name, str):
            continue  # the schema says so
        path = source / name
        if not path.is_file():
            problems.append(f"icons/{kind}: {name} is not in {source}")
            continue
        try:
            width, height, transparent = png_info(path.read_bytes())
        except ValueError as exc:
            problems.append(f"icons/{kind}: {name} is {exc}")
            continue
        if (width, height) != size:
            problems.append(
                f"icons/{kind}: {name} is {width}x{height}, Teams wants {size[0]}x{size[1]}"
            )
        if kind == "outline" and not transparent:
            problems.append(f"icons/{kind}: {name} has no transparency (white on transparent)")
    return problems


def validate(manifest: Any, source: Path = SOURCE_DIR) -> None:
    """Raise InvalidManifest listing every problem, or return if Teams would take it."""
    problems = [
        *schema_problems(manifest, source / SCHEMA_FILE),
        *rule_problems(manifest),
        *icon_problems(manifest, source),
    ]
    if problems:
        raise InvalidManifest(problems)


def load_manifest(source: Path = SOURCE_DIR) -> dict[str, Any]:
    """The manifest template as it is in the repository."""
    data = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise InvalidManifest(["<root>: the manifest is not a JSON object"])
    return data


def fill(manifest: dict[str, Any], app_id: str, host: str | None = None) -> dict[str, Any]:
    """The manifest with the app id (and bot id) put in; with `host`, the URLs and domains too."""
    app_id = app_id.strip().lower()
    if not _GUID.match(app_id) or app_id == TEMPLATE_ID:
        raise ValueError(
            f"{app_id!r} is not a Microsoft App ID: give the bot's app registration id,"
            " a GUID like 3f2504e0-4f89-41d3-9a0c-0305e82c3301"
        )
    text = json.dumps(manifest).replace(TEMPLATE_ID, app_id)
    if host is not None:
        host = host.strip().lower()
        if not _HOST.match(host):
            raise ValueError(f"{host!r} is not a host name (like slis.myschools.org.uk)")
        text = text.replace(TEMPLATE_HOST, host)
    filled: dict[str, Any] = json.loads(text)
    return filled


def build_package(
    out: Path, app_id: str, host: str | None = None, source: Path = SOURCE_DIR
) -> dict[str, Any]:
    """Write the upload zip to `out`; returns the manifest it holds. Nothing is written when
    the manifest or the icons would be refused (InvalidManifest) or the app id is not one
    (ValueError)."""
    manifest = fill(load_manifest(source), app_id, host)
    validate(manifest, source)
    # The zip holds the icons at its root, whatever their paths in the source folder.
    icons = manifest["icons"]
    packaged = {**manifest, "icons": {**icons, "color": "color.png", "outline": "outline.png"}}
    members = {
        "manifest.json": (json.dumps(packaged, indent=2, ensure_ascii=False) + "\n").encode(),
        "color.png": (source / icons["color"]).read_bytes(),
        "outline.png": (source / icons["outline"]).read_bytes(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            # A fixed date: the same inputs make the same zip.
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return packaged
