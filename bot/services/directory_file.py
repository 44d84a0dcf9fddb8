"""Reading a YAML directory file into checked entries, each knowing the line it came from.

The file describes a local authority's SLIS: its tenant record, chat workspaces, quadrants,
partnerships, Teaching School Alliances and people with their roles. Shape checks happen here;
cross-references (URNs, names, chat accounts) need the database and are checked by the importer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Generic, Self, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.errors import InvalidImport
from bot.services.directory import PARTNERSHIP_KINDS
from bot.services.retention_rules import RecordKind, check_period, parse_period, unknown_kind
from bot.types import Platform, Role, ScopeKind

EXPERTISE_TAGS = frozenset(
    {
        "leadership",
        "governance",
        "send",
        "pupil_premium",
        "safeguarding",
        "early_years",
        "maths",
        "english",
        "science",
        "peer_review",
        "recruitment",
        "self_evaluation",
    }
)

# Which scopes each role may be held over; the first is what a bare role means.
ROLE_SCOPES: dict[Role, tuple[ScopeKind, ...]] = {
    Role.HEAD: (ScopeKind.SCHOOL,),
    Role.STAFF: (ScopeKind.SCHOOL,),
    Role.GOVERNOR: (ScopeKind.SCHOOL,),
    Role.PARTNERSHIP_LEAD: (ScopeKind.PARTNERSHIP,),
    Role.QUADRANT_CHAIR: (ScopeKind.QUADRANT,),
    Role.ALLIANCE_LEAD: (ScopeKind.ALLIANCE,),
    Role.BOARD_MEMBER: (ScopeKind.COUNTY,),
    Role.LA_OFFICER: (ScopeKind.COUNTY, ScopeKind.QUADRANT),
    Role.ASSOCIATION_REP: (ScopeKind.COUNTY,),
    Role.ADMINISTRATOR: (ScopeKind.COUNTY,),
}

SECTIONS = ("tenant", "la_code", "workspaces", "quadrants", "partnerships", "alliances", "people")

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
URN = Annotated[int, Field(gt=0, strict=True)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Loc = tuple[str | int, ...]


class Spec(BaseModel):
    """An entry of the file: unknown keys are mistakes, surrounding spaces are not meaningful."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


PeriodDays = Annotated[int, BeforeValidator(parse_period)]


class RetentionSpec(Spec):
    """A local authority's own retention periods (`90d`, `3y`); a kind left out keeps the
    default (bot/services/retention_rules.py)."""

    named_survey_answers: PeriodDays | None = None
    closed_support_requests: PeriodDays | None = None
    outbox_messages: PeriodDays | None = None
    finished_reminders: PeriodDays | None = None
    audit_entries: PeriodDays | None = None
    past_meetings: PeriodDays | None = None

    @field_validator("*")
    @classmethod
    def _long_enough(cls, days: int | None, info: ValidationInfo) -> int | None:
        if days is not None and info.field_name is not None:
            check_period(RecordKind(info.field_name), days)
        return days

    @property
    def periods(self) -> dict[str, int]:
        """The periods given, in days, by record kind."""
        return {kind: days for kind, days in self.model_dump().items() if days is not None}


class TenantSpec(Spec):
    la_code: Annotated[int, Field(gt=0, strict=True)]
    name: Name
    timezone: str | None = None
    day_rate: Annotated[Decimal, Field(ge=0, decimal_places=2, max_digits=9)] | None = None
    retention: RetentionSpec = RetentionSpec()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def day_rate_pence(self) -> int | None:
        return None if self.day_rate is None else int(self.day_rate * 100)


class WorkspaceSpec(Spec):
    platform: Platform
    id: Annotated[str, Field(min_length=1, max_length=64)]
    name: Annotated[str, Field(max_length=200)] | None = None


class QuadrantSpec(Spec):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    districts: list[Name] = []
    # The Slack channel where the quadrant's meetings are announced, by id (e.g. C0123ABCD).
    channel: Annotated[str, Field(pattern=r"^[CG][A-Z0-9]{2,63}$")] | None = None


class PartnershipSpec(Spec):
    name: Name
    kind: str
    quadrant: Name | None = None
    schools: list[URN] = []

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in PARTNERSHIP_KINDS:
            raise ValueError(f"kind must be one of {', '.join(PARTNERSHIP_KINDS)}")
        return value


class AllianceSpec(Spec):
    name: Name
    lead_school: URN | None = None
    quadrants: list[Name] = []
    expertise: list[str] = []
    capacity_days_per_term: Annotated[int, Field(ge=0, strict=True)] | None = None

    @field_validator("expertise")
    @classmethod
    def _known_tags(cls, tags: list[str]) -> list[str]:
        unknown = [tag for tag in tags if tag not in EXPERTISE_TAGS]
        if unknown:
            raise ValueError(
                f"unknown expertise {', '.join(unknown)}; use {', '.join(sorted(EXPERTISE_TAGS))}"
            )
        return tags


class RoleSpec(Spec):
    role: Role
    school: URN | None = None
    partnership: Name | None = None
    quadrant: Name | None = None
    alliance: Name | None = None

    @property
    def scope(self) -> ScopeKind:
        named = self._scopes_named()
        return named[0] if named else ScopeKind.COUNTY

    def _scopes_named(self) -> list[ScopeKind]:
        given = {
            ScopeKind.SCHOOL: self.school,
            ScopeKind.PARTNERSHIP: self.partnership,
            ScopeKind.QUADRANT: self.quadrant,
            ScopeKind.ALLIANCE: self.alliance,
        }
        return [kind for kind, value in given.items() if value is not None]

    @model_validator(mode="after")
    def _scope_fits_role(self) -> Self:
        named = self._scopes_named()
        if len(named) > 1:
            raise ValueError(f"a role has one scope, not {' and '.join(named)}")
        allowed = ROLE_SCOPES[self.role]
        if self.scope not in allowed:
            if allowed == (ScopeKind.COUNTY,):
                raise ValueError(
                    f"{self.role.value} is held over the whole local authority: "
                    "give no school, partnership, quadrant or alliance"
                )
            wanted = " or ".join(
                "nothing (whole local authority)" if k is ScopeKind.COUNTY else f"a {k.value}"
                for k in allowed
            )
            raise ValueError(f"{self.role.value} needs {wanted}")
        return self


class ChatSpec(Spec):
    platform: Platform
    workspace: Annotated[str, Field(min_length=1, max_length=64)]
    user: Annotated[str, Field(min_length=1, max_length=64)]


class PersonSpec(Spec):
    name: Name
    email: Annotated[str, Field(max_length=320)]
    job_title: Annotated[str, Field(max_length=200)] | None = None
    roles: list[RoleSpec] = []
    chat: list[ChatSpec] = []

    @field_validator("email")
    @classmethod
    def _plausible_email(cls, value: str) -> str:
        if not EMAIL.fullmatch(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value.lower()


S = TypeVar("S", bound=Spec)


@dataclass(frozen=True)
class Entry(Generic[S]):
    """A checked entry and where it sits in the file, e.g. `("people", 3)`."""

    spec: S
    loc: Loc


@dataclass
class DirectoryFile:
    """The entries of a directory file that passed their shape checks, and the ones that did not."""

    source: str
    lines: LineIndex
    tenant: TenantSpec | None = None
    la_code: int | None = None
    workspaces: list[Entry[WorkspaceSpec]] = field(default_factory=list)
    quadrants: list[Entry[QuadrantSpec]] = field(default_factory=list)
    partnerships: list[Entry[PartnershipSpec]] = field(default_factory=list)
    alliances: list[Entry[AllianceSpec]] = field(default_factory=list)
    people: list[Entry[PersonSpec]] = field(default_factory=list)
    problems: list[tuple[Loc, str]] = field(default_factory=list)
    invalid: dict[str, int] = field(default_factory=dict)  # entries dropped, by section

    @property
    def tenant_la_code(self) -> int:
        if self.tenant is not None:
            return self.tenant.la_code
        assert self.la_code is not None
        return self.la_code

    def problem_lines(self, problems: list[tuple[Loc, str]] | None = None) -> list[str]:
        """Problems as `line N (path): reason`, in file order."""
        located = sorted(
            (self.lines.line(loc), render_loc(loc), text)
            for loc, text in (self.problems if problems is None else problems)
        )
        return [f"line {n} ({where}): {text}" for n, where, text in located]


class LineIndex:
    """The line each value of the file starts on, by its path in the data."""

    def __init__(self) -> None:
        self._lines: dict[Loc, int] = {(): 1}
        self._indexed: set[int] = set()

    def line(self, loc: Loc) -> int:
        """The line of `loc`, or of its nearest enclosing value the file has."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self._lines:
                return self._lines[loc[:end]]
        return 1

    def record(self, node: yaml.Node, loc: Loc = ()) -> Iterator[tuple[Loc, str]]:
        """Index `node`'s children; yields problems yaml itself lets pass (duplicate keys)."""
        if id(node) in self._indexed:
            return  # an alias: its lines are those of the anchor, and it may refer to itself
        self._indexed.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key, value in node.value:
                line = key.start_mark.line + 1
                name = key.value if isinstance(key, yaml.ScalarNode) else str(key.start_mark)
                if name in seen:
                    yield (*loc, name), f"{name!r} is given twice (first on line {seen[name]})"
                seen[name] = line
                self._lines[(*loc, name)] = line
                yield from self.record(value, (*loc, name))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._lines[(*loc, index)] = item.start_mark.line + 1
                yield from self.record(item, (*loc, index))


def render_loc(loc: Loc) -> str:
    """`("people", 3, "roles", 0)` → `people[3].roles[0]`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "file"


def read_directory_file(path: Path) -> DirectoryFile:
    """Parse and shape-check `path`; a malformed file as a whole raises InvalidImport."""
    data, lines, structural = read_marked_yaml(path)
    directory = DirectoryFile(source=path.name, lines=lines)
    if not isinstance(data, dict):
        structural.append(
            ((), "a directory file is a mapping with sections " + ", ".join(SECTIONS))
        )
        raise InvalidImport(path.name, directory.problem_lines(structural))
    for key in data:
        if key not in SECTIONS:
            structural.append(
                ((str(key),), f"unknown section; expected one of {', '.join(SECTIONS)}")
            )
    if ("tenant" in data) == ("la_code" in data):
        structural.append(((), "give either a `tenant:` section or `la_code:` (not both)"))
    if "tenant" in data:
        try:
            directory.tenant = TenantSpec.model_validate(data["tenant"])
        except ValidationError as exc:
            structural.extend(_problems(exc, ("tenant",)))
    elif "la_code" in data:
        la_code = data["la_code"]
        if isinstance(la_code, int) and not isinstance(la_code, bool) and la_code > 0:
            directory.la_code = la_code
        else:
            structural.append((("la_code",), "la_code must be a positive whole number"))
    for section in SECTIONS[2:]:
        if not isinstance(data.get(section, []), list):
            structural.append(((section,), "must be a list"))
    if structural:
        raise InvalidImport(path.name, directory.problem_lines(structural))

    directory.workspaces = _entries(directory, data, "workspaces", WorkspaceSpec)
    directory.quadrants = _entries(directory, data, "quadrants", QuadrantSpec)
    directory.partnerships = _entries(directory, data, "partnerships", PartnershipSpec)
    directory.alliances = _entries(directory, data, "alliances", AllianceSpec)
    directory.people = _entries(directory, data, "people", PersonSpec)
    return directory


def read_marked_yaml(
    path: Path,
    *,
    error: type[InvalidImport] = InvalidImport,
    loader: type[yaml.SafeLoader] = yaml.SafeLoader,
) -> tuple[Any, LineIndex, list[tuple[Loc, str]]]:
    """The data of a YAML file, the line of each value, and the duplicate keys YAML lets pass.

    Text that is not UTF-8 or not YAML raises `error` naming the byte or line.
    """
    lines = LineIndex()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(path.name, [f"byte {exc.start}: the file is not UTF-8 text"]) from None
    reader = loader(text)
    try:
        node = reader.get_single_node()
        if node is None:
            return None, lines, []
        problems = list(lines.record(node))
        return reader.construct_document(node), lines, problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}" if mark else "line 1"
        raise error(path.name, [f"{where}: {exc.problem or exc.context}"]) from None
    finally:
        reader.dispose()


def _entries(
    directory: DirectoryFile, data: dict[str, Any], section: str, model: type[S]
) -> list[Entry[S]]:
    entries: list[Entry[S]] = []
    for index, raw in enumerate(data.get(section) or []):
        loc: Loc = (section, index)
        try:
            entries.append(Entry(model.model_validate(raw), loc))
        except ValidationError as exc:
            directory.problems.extend(_problems(exc, loc))
            directory.invalid[section] = directory.invalid.get(section, 0) + 1
    return entries


def _problems(exc: ValidationError, loc: Loc) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    for error in exc.errors(include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden" and error["loc"][-2:-1] == ("retention",):
            message = unknown_kind(error["loc"][-1])
        problems.append((loc + tuple(error["loc"]), message))
    return problems
