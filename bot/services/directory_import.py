"""Importing the directory: schools from a GIAS extract, everything else from a YAML file.

Both imports are upserts by natural key inside one transaction: they add and update, never
delete, and a second run of the same file changes nothing. A bad row or entry stops the whole
import (InvalidImport, naming every problem's line) unless `skip_invalid` asks to apply the rest.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, col, select

from bot.errors import InvalidImport, UserError
from bot.ports import Clock
from bot.services import audit
from bot.services.directory_file import (
    AllianceSpec,
    DirectoryFile,
    PartnershipSpec,
    PersonSpec,
    RoleSpec,
    read_directory_file,
)
from bot.services.directory_rules import (
    CheckedDirectory,
    DirectoryState,
    check_directory,
    in_tenant,
)
from bot.services.gias import read_extract
from bot.services.retention_rules import replace_overrides
from storage.engine import Database
from storage.models import (
    Alliance,
    AllianceExpertise,
    AllianceQuadrant,
    ChatIdentity,
    ChatWorkspace,
    Partnership,
    PartnershipMembership,
    Person,
    Quadrant,
    QuadrantDistrict,
    RoleAssignment,
    School,
    Tenant,
)

DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLE_DIRECTORY = DATA / "sample_directory.yaml"
SAMPLE_SCHOOLS = DATA / "essex_schools.csv"

KIND_ORDER = (
    "tenant",
    "workspace",
    "quadrant",
    "school",
    "partnership",
    "membership",
    "alliance",
    "alliance_quadrant",
    "expertise",
    "person",
    "role",
    "chat_identity",
    "retention_period",
)


@dataclass
class ImportSummary:
    """What an import did, by kind of entity; `problems` lists what --skip-invalid left out."""

    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def changes(self) -> int:
        """How many rows were inserted or updated."""
        return sum(self.inserted.values()) + sum(self.updated.values())

    def lines(self) -> list[str]:
        """The summary as lines for the CLI."""
        outcomes = (
            ("inserted", self.inserted),
            ("updated", self.updated),
            ("unchanged", self.unchanged),
            ("skipped", self.skipped),
        )
        kinds = {kind for _, counts in outcomes for kind in counts}
        ordered = [k for k in KIND_ORDER if k in kinds] + sorted(kinds - set(KIND_ORDER))
        source = self.source or "import"
        out = [f"{source}:" if ordered else f"{source}: nothing to import"]
        for kind in ordered:
            counts = ", ".join(f"{c[kind]} {label}" for label, c in outcomes if c.get(kind))
            out.append(f"  {kind.replace('_', ' ')}: {counts}")
        if self.problems:
            out.append(f"  {len(self.problems)} problem(s); left out:")
            out.extend(f"    {problem}" for problem in self.problems)
        return out

    def count(self, outcome: dict[str, int], kind: str, n: int = 1) -> None:
        if n:
            outcome[kind] = outcome.get(kind, 0) + n


def import_schools(
    db: Database,
    la_code: int,
    path: Path,
    *,
    clock: Clock,
    skip_invalid: bool = False,
) -> ImportSummary:
    """Upsert LA `la_code`'s schools from a GIAS extract, placed by the quadrants' districts."""
    now = clock.now()
    with db.session() as session:
        tenant_id = _tenant_id(session, la_code)
        extract = read_extract(path, la_code)
        if extract.problems and not skip_invalid:
            raise InvalidImport(path.name, extract.problems)
        summary = ImportSummary(source=path.name, problems=extract.problems)
        summary.count(summary.skipped, "school", extract.other_la_rows + len(extract.problems))
        quadrant_of = {
            d.district: d.quadrant_id for d in in_tenant(session, QuadrantDistrict, tenant_id)
        }
        schools = {s.urn: s for s in in_tenant(session, School, tenant_id)}
        for row in extract.establishments:
            given: dict[str, Any] = {
                "name": row.name,
                "phase": row.phase,
                "establishment_type": row.establishment_type,
                "establishment_group": row.establishment_group,
                "status": row.status,
                "quadrant_id": quadrant_of.get((row.district or "").casefold()),
            }
            # A column the extract lacks leaves what is stored alone.
            values = {k: v for k, v in given.items() if v is not None}
            school = schools.get(row.urn)
            if school is None:
                session.add(School(tenant_id=tenant_id, urn=row.urn, updated_at=now, **values))
                summary.count(summary.inserted, "school")
            elif _assign(school, values):
                school.updated_at = now
                summary.count(summary.updated, "school")
            else:
                summary.count(summary.unchanged, "school")
        _audit(session, tenant_id, now, "directory.import_schools", summary)
    return summary


def import_directory(
    db: Database, path: Path, *, clock: Clock, skip_invalid: bool = False
) -> ImportSummary:
    """Upsert the tenant, workspaces, quadrants, partnerships, alliances and people of a file."""
    return _import(db, read_directory_file(path), clock.now(), skip_invalid=skip_invalid)


def load_sample(db: Database, clock: Clock) -> list[ImportSummary]:
    """Load the shipped sample: tenant and quadrants, then the Essex schools, then the rest,
    stamped with `clock`'s time (the bot's own, when it runs inside the bot)."""
    directory = read_directory_file(SAMPLE_DIRECTORY)
    if directory.problems:
        raise InvalidImport(directory.source, directory.problem_lines())
    la_code = directory.tenant_la_code
    frame = replace(directory, partnerships=[], alliances=[], people=[])
    frame.source += " (tenant, workspaces, quadrants)"
    rest = replace(directory, tenant=None, la_code=la_code, workspaces=[], quadrants=[])
    rest.source += " (partnerships, alliances, people)"
    return [
        _import(db, frame, clock.now(), skip_invalid=False),
        import_schools(db, la_code, SAMPLE_SCHOOLS, clock=clock),
        _import(db, rest, clock.now(), skip_invalid=False),
    ]


def _import(
    db: Database, directory: DirectoryFile, now: datetime, *, skip_invalid: bool
) -> ImportSummary:
    with db.session() as session:
        summary = ImportSummary(source=directory.source)
        tenant_id = _upsert_tenant(session, directory, summary, now)
        state = DirectoryState.load(session, tenant_id, directory)
        checked = check_directory(directory, state)
        problems = directory.problems + checked.problems
        if problems and not skip_invalid:
            raise InvalidImport(directory.source, directory.problem_lines(problems))
        summary.problems = directory.problem_lines(problems)
        for invalid in (directory.invalid, checked.invalid):
            for section, n in invalid.items():
                summary.count(summary.skipped, SECTION_KINDS[section], n)
        _Writer(session, state, summary, now).write(checked)
        _audit(session, tenant_id, now, "directory.import", summary)
    return summary


def _audit(session: Session, tenant_id: int, now: datetime, action: str, s: ImportSummary) -> None:
    """Audit an import from the command line: its file and counts, never its rows. A run
    that changed nothing leaves no trace, as a second run of the same file must."""
    if not s.changes:
        return
    audit.record(
        session,
        tenant_id=tenant_id,
        at=now,
        action=action,
        subject=s.source,
        platform=audit.COMMAND_LINE,
        detail={
            "inserted": sum(s.inserted.values()),
            "updated": sum(s.updated.values()),
            "skipped": sum(s.skipped.values()),
        },
    )


SECTION_KINDS = {
    "workspaces": "workspace",
    "quadrants": "quadrant",
    "partnerships": "partnership",
    "alliances": "alliance",
    "people": "person",
}


def _tenant_id(session: Session, la_code: int) -> int:
    tenant = session.exec(select(Tenant).where(col(Tenant.la_code) == la_code)).first()
    if tenant is None or tenant.id is None:
        raise UserError(
            f"no local authority with LA code {la_code}; "
            "import a directory file with a tenant section first"
        )
    return tenant.id


def _upsert_tenant(
    session: Session, directory: DirectoryFile, summary: ImportSummary, now: datetime
) -> int:
    spec = directory.tenant
    if spec is None:
        return _tenant_id(session, directory.tenant_la_code)
    values: dict[str, Any] = {"name": spec.name}
    if spec.timezone is not None:
        values["timezone"] = spec.timezone
    if spec.day_rate_pence is not None:
        values["day_rate_pence"] = spec.day_rate_pence
    tenant = session.exec(select(Tenant).where(col(Tenant.la_code) == spec.la_code)).first()
    if tenant is None:
        tenant = Tenant(la_code=spec.la_code, created_at=now, **values)
        session.add(tenant)
        session.flush()
        summary.count(summary.inserted, "tenant")
    else:
        summary.count(summary.updated if _assign(tenant, values) else summary.unchanged, "tenant")
    assert tenant.id is not None
    # The file's retention periods replace the tenant's own; kinds it leaves out use the default.
    summary.count(
        summary.updated,
        "retention_period",
        replace_overrides(session, tenant.id, spec.retention.periods),
    )
    return tenant.id


def _assign(row: object, values: Mapping[str, Any]) -> bool:
    """Set the attributes that differ; True when anything did."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


Row = TypeVar("Row", bound=SQLModel)
Key = TypeVar("Key", bound=Hashable)


class _Writer:
    """Applies checked entries in dependency order, counting what each upsert did."""

    def __init__(
        self, session: Session, state: DirectoryState, summary: ImportSummary, now: datetime
    ) -> None:
        self.session = session
        self.state = state
        self.summary = summary
        self.now = now

    def write(self, checked: CheckedDirectory) -> None:
        state = self.state
        for w in checked.workspaces:
            self._upsert(
                "workspace",
                state.workspaces,
                (w.platform.value, w.id),
                ChatWorkspace,
                {} if w.name is None else {"name": w.name},
                platform=w.platform.value,
                workspace_id=w.id,
            )
        for q in checked.quadrants:
            channel = (
                {"channel_platform": "slack", "channel_id": q.channel}
                if q.channel is not None
                else {"channel_platform": None, "channel_id": None}
            )
            self._upsert("quadrant", state.quadrants, q.name, Quadrant, channel, name=q.name)
        self.session.flush()
        for q in checked.quadrants:
            for district in q.districts:
                key = district.casefold()
                self._upsert(
                    "district",
                    state.districts,
                    key,
                    QuadrantDistrict,
                    {"quadrant_id": _id(state.quadrants[q.name])},
                    district=key,
                )
        self._partnerships(checked.partnerships)
        self._alliances(checked.alliances)
        self._people(checked.people)

    def _partnerships(self, partnerships: list[PartnershipSpec]) -> None:
        state = self.state
        for p in partnerships:
            values: dict[str, Any] = {"kind": p.kind}
            if p.quadrant is not None:
                values["quadrant_id"] = _id(state.quadrants[p.quadrant])
            self._upsert(
                "partnership", state.partnerships, p.name, Partnership, values, name=p.name
            )
        self.session.flush()
        placed: set[int] = set()
        for p in partnerships:
            partnership = state.partnerships[p.name]
            for urn in p.schools:
                school = state.schools[urn]
                self._link(
                    "membership",
                    state.memberships,
                    PartnershipMembership,
                    partnership_id=_id(partnership),
                    school_id=_id(school),
                )
                # The register says nothing of quadrants: a school takes its first partnership's.
                if school.quadrant_id is None and partnership.quadrant_id is not None:
                    school.quadrant_id = partnership.quadrant_id
                    school.updated_at = self.now
                    placed.add(urn)
        self.summary.count(self.summary.updated, "school", len(placed))

    def _alliances(self, alliances: list[AllianceSpec]) -> None:
        state = self.state
        for a in alliances:
            values: dict[str, Any] = {}
            if a.lead_school is not None:
                values["lead_school_id"] = _id(state.schools[a.lead_school])
            if a.capacity_days_per_term is not None:
                values["capacity_days_per_term"] = a.capacity_days_per_term
            self._upsert("alliance", state.alliances, a.name, Alliance, values, name=a.name)
        self.session.flush()
        for a in alliances:
            alliance_id = _id(state.alliances[a.name])
            for name in a.quadrants:
                self._link(
                    "alliance_quadrant",
                    state.alliance_quadrants,
                    AllianceQuadrant,
                    alliance_id=alliance_id,
                    quadrant_id=_id(state.quadrants[name]),
                )
            for tag in a.expertise:
                self._link(
                    "expertise",
                    state.expertise,
                    AllianceExpertise,
                    alliance_id=alliance_id,
                    tag=tag,
                )

    def _people(self, people: list[PersonSpec]) -> None:
        state = self.state
        for person in people:
            values = {"name": person.name}
            if person.job_title is not None:
                values["job_title"] = person.job_title
            self._upsert("person", state.people, person.email, Person, values, email=person.email)
        self.session.flush()
        for person in people:
            person_id = _id(state.people[person.email])
            for role in person.roles:
                self._link(
                    "role",
                    state.roles,
                    RoleAssignment,
                    person_id=person_id,
                    role=role.role.value,
                    scope_kind=role.scope.value,
                    scope_id=self._scope_id(role),
                )
            for chat in person.chat:
                identity = (chat.platform.value, chat.workspace, chat.user)
                self._upsert(
                    "chat_identity",
                    state.identities,
                    identity,
                    ChatIdentity,
                    {},
                    person_id=person_id,
                    platform=identity[0],
                    workspace_id=identity[1],
                    user_id=identity[2],
                    source="directory",
                    linked_at=self.now,
                )

    def _scope_id(self, role: RoleSpec) -> int:
        state = self.state
        if role.school is not None:
            return _id(state.schools[role.school])
        if role.partnership is not None:
            return _id(state.partnerships[role.partnership])
        if role.quadrant is not None:
            return _id(state.quadrants[role.quadrant])
        if role.alliance is not None:
            return _id(state.alliances[role.alliance])
        return 0  # the whole local authority

    def _upsert(
        self,
        kind: str,
        existing: dict[Key, Row],
        key: Key,
        table: type[Row],
        values: Mapping[str, Any],
        **identity: Any,
    ) -> None:
        """Insert a row under `key`, or bring its `values` up to date; `identity` is set only
        on insert."""
        row = existing.get(key)
        if row is None:
            row = table(tenant_id=self.state.tenant_id, **identity, **values)
            self.session.add(row)
            existing[key] = row
            self.summary.count(self.summary.inserted, kind)
        elif _assign(row, values):
            self.summary.count(self.summary.updated, kind)
        else:
            self.summary.count(self.summary.unchanged, kind)

    def _link(self, kind: str, existing: set[Any], table: type[SQLModel], **columns: Any) -> None:
        """Insert a link row unless it exists; its columns, in order, are its key in `existing`."""
        key = tuple(columns.values())
        if key in existing:
            self.summary.count(self.summary.unchanged, kind)
        else:
            existing.add(key)
            self.session.add(table(tenant_id=self.state.tenant_id, **columns))
            self.summary.count(self.summary.inserted, kind)


def _id(row: SQLModel) -> int:
    row_id = getattr(row, "id", None)
    assert isinstance(row_id, int), "rows are flushed before their ids are used"
    return row_id
