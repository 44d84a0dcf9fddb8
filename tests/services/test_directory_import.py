"""The directory import: GIAS school extracts and YAML directory files, into one tenant."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import SQLModel, col, select

from bot.errors import InvalidImport, UserError
from bot.ports import SystemClock
from bot.services.directory_import import (
    SAMPLE_DIRECTORY,
    SAMPLE_SCHOOLS,
    ImportSummary,
    import_directory,
    import_schools,
    load_sample,
)
from bot.services.gias import read_extract
from bot.types import Role
from storage.engine import Database
from storage.models import (
    ChatIdentity,
    Partnership,
    PartnershipMembership,
    Person,
    Quadrant,
    RoleAssignment,
    School,
    Tenant,
    aware,
)
from tests.fakes.clock import FakeClock

# The imports stamp rows with this clock's time.
CLOCK = FakeClock()
FIXTURES = Path(__file__).parents[1] / "fixtures"
GIAS_FIXTURE = FIXTURES / "gias_format_fixture_school_data.csv"
ESSEX_SCHOOLS = 248

HEADER = "URN,EstablishmentName,LA (code),PhaseOfEducation (name),EstablishmentStatus (name)\n"

ESSEX = """\
tenant: {la_code: 881, name: Essex, timezone: Europe/London, day_rate: 450}
workspaces: [{platform: slack, id: T0TEST1, name: Test workspace}]
quadrants:
  - {name: West, districts: [Epping Forest, Harlow, Uttlesford]}
  - {name: North East, districts: [Colchester, Tendring]}
"""


def write(tmp_path: Path, name: str, content: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode(encoding))
    return path


def snapshot(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, to show an import changed nothing at all."""
    with db.engine.connect() as conn:
        return {
            table.name: [
                dict(row._mapping)
                for row in conn.execute(table.select().order_by(*table.primary_key.columns))
            ]
            for table in SQLModel.metadata.sorted_tables
        }


def count(db: Database, table: type[SQLModel], **where: Any) -> int:
    with db.session() as s:
        stmt = select(func.count()).select_from(table)
        for name, value in where.items():
            stmt = stmt.where(getattr(table, name) == value)
        return int(s.exec(stmt).one())


def school(db: Database, urn: int, la_code: int = 881) -> School:
    with db.session() as s:
        tenant = s.exec(select(Tenant).where(col(Tenant.la_code) == la_code)).one()
        return s.exec(
            select(School).where(col(School.tenant_id) == tenant.id, col(School.urn) == urn)
        ).one()


@pytest.fixture
def essex(db: Database, tmp_path: Path) -> Database:
    """The Essex tenant with a workspace and two quadrants, and no schools yet."""
    import_directory(db, write(tmp_path, "essex.yaml", ESSEX), clock=CLOCK)
    return db


@pytest.fixture
def essex_schools(essex: Database) -> Database:
    import_schools(essex, 881, SAMPLE_SCHOOLS, clock=CLOCK)
    return essex


# --- Schools from a GIAS extract -----------------------------------------------------------


def test_the_shipped_essex_list_inserts_every_school(essex: Database) -> None:
    summary = import_schools(essex, 881, SAMPLE_SCHOOLS, clock=CLOCK)

    assert summary.inserted == {"school": ESSEX_SCHOOLS}
    assert (summary.updated, summary.unchanged, summary.skipped, summary.problems) == (
        {},
        {},
        {},
        [],
    )
    assert count(essex, School) == ESSEX_SCHOOLS
    great_oakley = school(essex, 115141)
    assert great_oakley.name == (
        "All Saints Church of England Voluntary Aided Primary School, Great Oakley"
    )
    assert (great_oakley.phase, great_oakley.status) == ("Primary", "Open")
    assert great_oakley.establishment_group == "Local authority maintained schools"
    assert school(essex, 115203).name.startswith("All Saints’ Church")
    assert summary.lines() == ["essex_schools.csv:", f"  school: {ESSEX_SCHOOLS} inserted"]


def test_importing_the_list_twice_changes_nothing(essex_schools: Database) -> None:
    before = snapshot(essex_schools)

    summary = import_schools(essex_schools, 881, SAMPLE_SCHOOLS, clock=CLOCK)

    assert summary.unchanged == {"school": ESSEX_SCHOOLS}
    assert summary.inserted == summary.updated == {}
    assert snapshot(essex_schools) == before


def test_a_bad_row_changes_nothing_and_every_problem_names_its_line(
    essex: Database, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "bad.csv",
        HEADER
        + "100001,Good School,881,Primary,Open\n"  # line 2
        + '100002,"Two-line\nName School",881,Primary,Open\n'  # lines 3-4
        + "abc,Bad URN School,881,Primary,Open\n"  # line 5
        + "100003,,881,Primary,Open\n"  # line 6
        + "100001,Same URN Again,881,Primary,Open\n"  # line 7
        + "100004,Short Row,881\n"  # line 8
        + "0,Zero URN,881,Primary,Open\n",  # line 9
    )
    before = snapshot(essex)

    with pytest.raises(InvalidImport) as caught:
        import_schools(essex, 881, path, clock=CLOCK)

    assert caught.value.source == "bad.csv"
    assert caught.value.problems == [
        "line 5: URN 'abc' is not a positive whole number",
        "line 6: URN 100003 has no EstablishmentName",
        "line 7: URN 100001 is also on line 2",
        "line 8: 3 fields where the header has 5",
        "line 9: URN '0' is not a positive whole number",
    ]
    assert snapshot(essex) == before


def test_skip_invalid_applies_the_good_rows_and_lists_the_bad(
    essex: Database, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "mixed.csv",
        HEADER
        + "100001,Good School,881,Primary,Open\n"
        + "x1,Bad URN School,881,Primary,Open\n"
        + '100002,"Two-line\nName School",881,Primary,Open\n'
        + "100003,,881,Primary,Open\n",
    )

    summary = import_schools(essex, 881, path, skip_invalid=True, clock=CLOCK)

    assert summary.inserted == {"school": 2}
    assert summary.skipped == {"school": 2}
    assert summary.problems == [
        "line 3: URN 'x1' is not a positive whole number",
        "line 6: URN 100003 has no EstablishmentName",
    ]
    assert school(essex, 100002).name == "Two-line\nName School"
    assert summary.lines()[-3:] == [
        "  2 problem(s); left out:",
        "    line 3: URN 'x1' is not a positive whole number",
        "    line 6: URN 100003 has no EstablishmentName",
    ]


def test_rows_of_other_local_authorities_are_skipped_not_errors(
    essex: Database, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "national.csv",
        HEADER
        + "100001,Essex School,881,Primary,Open\n"
        + "200001,Suffolk School,935,Primary,Open\n"
        + "300001,Kent School,886,Secondary,Open\n"
        + "notaurn,,886,,\n",  # another LA's row is not checked
    )

    summary = import_schools(essex, 881, path, clock=CLOCK)

    assert summary.inserted == {"school": 1}
    assert summary.skipped == {"school": 3}
    assert summary.problems == []
    assert count(essex, School) == 1


def test_a_cp1252_extract_with_non_ascii_names_imports(essex: Database, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "edubase.csv",
        HEADER + "100001,St Mary’s Church School,881,Primary,Open\n"
        "100002,École Française de Chelmsford,881,Primary,Open\n",
        encoding="cp1252",
    )
    assert b"\x92" in path.read_bytes()  # really cp1252, not UTF-8

    summary = import_schools(essex, 881, path, clock=CLOCK)

    assert summary.inserted == {"school": 2}
    assert school(essex, 100001).name == "St Mary’s Church School"
    assert school(essex, 100002).name == "École Française de Chelmsford"


def test_a_utf8_extract_with_a_byte_order_mark_imports(essex: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "bom.csv", HEADER + "100001,Café School,881,Primary,Open\n", "utf-8-sig")

    assert import_schools(essex, 881, path, clock=CLOCK).inserted == {"school": 1}
    assert school(essex, 100001).name == "Café School"


def test_closed_schools_are_kept_and_changes_count_as_updates(
    essex_schools: Database, tmp_path: Path
) -> None:
    before = school(essex_schools, 114734)
    path = write(
        tmp_path,
        "changes.csv",
        HEADER
        + "114734,Alresford Primary School (renamed),881,Primary,Open\n"
        + "133312,Abacus Primary School,881,Primary,Closed\n"
        + "115322,Beauchamps High School,881,Secondary,Open\n",
    )

    summary = import_schools(essex_schools, 881, path, clock=CLOCK)

    assert summary.updated == {"school": 2}
    assert summary.unchanged == {"school": 1}
    assert school(essex_schools, 133312).status == "Closed"
    renamed = school(essex_schools, 114734)
    assert renamed.name == "Alresford Primary School (renamed)"
    assert renamed.updated_at >= before.updated_at
    assert count(essex_schools, School) == ESSEX_SCHOOLS


def test_the_imports_stamp_their_rows_with_the_clocks_time(db: Database, tmp_path: Path) -> None:
    clock = FakeClock(datetime(2027, 1, 5, 8, 0, tzinfo=UTC))
    made = clock.now()
    import_directory(db, write(tmp_path, "essex.yaml", ESSEX), clock=clock)
    import_schools(db, 881, SAMPLE_SCHOOLS, clock=clock)
    chat = "chat: [{platform: slack, workspace: T0TEST1, user: U0001}]"
    people = f"la_code: 881\npeople:\n  - {{name: Ivy, email: ivy@example.org, {chat}}}\n"
    clock.advance(days=3)
    import_directory(db, write(tmp_path, "people.yaml", people), clock=clock)
    clock.advance(days=3)
    renamed = HEADER + "114734,Alresford Primary School (renamed),881,Primary,Open\n"
    import_schools(db, 881, write(tmp_path, "renamed.csv", renamed), clock=clock)

    with db.session() as s:
        tenant = s.exec(select(Tenant)).one()
        identity = s.exec(select(ChatIdentity)).one()
    assert aware(tenant.created_at) == made
    assert aware(identity.linked_at) == made + timedelta(days=3)
    assert aware(school(db, 114734).updated_at) == made + timedelta(days=6)
    assert aware(school(db, 115322).updated_at) == made  # unchanged, so not stamped again


def test_the_full_gias_format_imports_one_authority_and_keeps_closed_schools(
    db: Database, tmp_path: Path
) -> None:
    import_directory(
        db, write(tmp_path, "t.yaml", "tenant: {la_code: 5, name: Fixture LA}\n"), clock=CLOCK
    )

    summary = import_schools(db, 5, GIAS_FIXTURE, clock=CLOCK)

    assert summary.inserted == {"school": 1}
    assert summary.skipped == {"school": 12}
    nursery = school(db, 100004, la_code=5)
    assert (nursery.name, nursery.status) == ("Eastville Nursery School", "Closed")
    assert nursery.establishment_type == "Local authority maintained schools"
    assert nursery.establishment_group == "Local authority maintained schools"


def test_the_full_gias_format_parses_every_row() -> None:
    # LA code 0 ("Does not apply", overseas) has three establishments in the fixture.
    extract = read_extract(GIAS_FIXTURE, 0)

    assert [e.urn for e in extract.establishments] == [100005, 100006, 100008]
    assert extract.other_la_rows == 10
    assert extract.problems == []
    assert extract.establishments[0].establishment_type == "Service children's education"


def test_a_missing_column_stops_the_import(essex: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "nola.csv", "URN,EstablishmentName\n100001,A School\n")

    with pytest.raises(InvalidImport) as caught:
        import_schools(essex, 881, path, skip_invalid=True, clock=CLOCK)

    assert caught.value.problems == ["line 1: missing column(s) 'LA (code)'"]


def test_schools_need_the_tenant_first(db: Database) -> None:
    with pytest.raises(UserError) as caught:
        import_schools(db, 881, SAMPLE_SCHOOLS, clock=CLOCK)

    assert caught.value.message == (
        "no local authority with LA code 881; import a directory file with a tenant section first"
    )


def test_the_district_places_a_school_in_its_quadrant(essex: Database, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "districts.csv",
        "URN,EstablishmentName,LA (code),DistrictAdministrative (name)\n"
        "100001,Harlow School,881,Harlow\n"
        "100002,Clacton School,881,Tendring\n"
        "100003,Unplaced School,881,Somewhere Else\n",
    )

    import_schools(essex, 881, path, clock=CLOCK)

    with essex.session() as s:
        quadrants = {q.id: q.name for q in s.exec(select(Quadrant))}
    placed = [quadrants.get(school(essex, urn).quadrant_id) for urn in (100001, 100002, 100003)]
    assert placed == ["West", "North East", None]


def test_the_same_urn_in_two_authorities_does_not_collide(
    essex_schools: Database, tmp_path: Path
) -> None:
    import_directory(
        essex_schools,
        write(tmp_path, "t.yaml", "tenant: {la_code: 882, name: Other}\n"),
        clock=CLOCK,
    )
    path = write(tmp_path, "other.csv", HEADER + "115141,Other LA School,882,Primary,Open\n")

    summary = import_schools(essex_schools, 882, path, clock=CLOCK)

    assert summary.inserted == {"school": 1}
    assert school(essex_schools, 115141, la_code=882).name == "Other LA School"
    assert school(essex_schools, 115141).name.startswith("All Saints")
    assert import_schools(essex_schools, 881, SAMPLE_SCHOOLS, clock=CLOCK).unchanged == {
        "school": ESSEX_SCHOOLS
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(
        st.text(
            st.characters(exclude_categories=["Cs", "Cc"]) | st.sampled_from('\n\r,"'), min_size=1
        )
        .map(str.strip)
        .filter(bool),
        min_size=1,
        max_size=6,
    ),
    bad=st.integers(min_value=0, max_value=5),
)
def test_problem_lines_are_physical_lines_whatever_the_names(
    tmp_path_factory: pytest.TempPathFactory, names: list[str], bad: int
) -> None:
    # Quoted names may hold commas, quotes and line breaks; the line of a later row must
    # still be the line an editor shows it on.
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)  # CRLF line ends, and quotes wherever a name needs them
    writer.writerow(["URN", "EstablishmentName", "LA (code)"])
    starts = []
    for i, name in enumerate(names):
        starts.append(len(re.findall(r"\r\n|\r|\n", buffer.getvalue())) + 1)
        writer.writerow(["bad" if i == bad else 100000 + i, name, 881])
    path = tmp_path_factory.mktemp("csv") / "names.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")

    extract = read_extract(path, 881)

    good = [(e.line, e.urn, e.name) for e in extract.establishments]
    assert good == [(starts[i], 100000 + i, n) for i, n in enumerate(names) if i != bad]
    if bad < len(names):
        assert extract.problems == [f"line {starts[bad]}: URN 'bad' is not a positive whole number"]


# --- The YAML directory file ---------------------------------------------------------------


def test_the_sample_loads_with_every_school_in_a_partnership_and_every_role_held(
    db: Database,
) -> None:
    sample = yaml.safe_load(SAMPLE_DIRECTORY.read_text(encoding="utf-8"))

    frame, schools, rest = load_sample(db, SystemClock())

    assert frame.inserted == {"tenant": 1, "workspace": 1, "quadrant": 4, "district": 12}
    assert schools.inserted == {"school": ESSEX_SCHOOLS}
    assert rest.inserted["partnership"] == len(sample["partnerships"])
    assert rest.inserted["alliance"] == len(sample["alliances"])
    assert rest.inserted["person"] == len(sample["people"])
    assert rest.updated == {"school": ESSEX_SCHOOLS}  # each took its partnership's quadrant
    assert rest.problems == [] and rest.skipped == {}
    with db.session() as s:
        in_a_partnership = set(s.exec(select(PartnershipMembership.school_id)))
        all_schools = list(s.exec(select(School)))
        roles_held = set(s.exec(select(RoleAssignment.role)))
        kinds = set(s.exec(select(Partnership.kind)))
    assert {sch.id for sch in all_schools} <= in_a_partnership
    assert all(sch.quadrant_id is not None for sch in all_schools)
    assert roles_held == {role.value for role in Role}
    assert kinds == {"slis_cluster", "mat", "ashe_group", "ashe_triad", "other"}
    # Everyone has a Slack account in the sample workspace (the sandbox plays it).
    assert count(db, ChatIdentity) == len(sample["people"])


def test_the_sample_people_are_fictional_and_on_example_domains() -> None:
    sample = yaml.safe_load(SAMPLE_DIRECTORY.read_text(encoding="utf-8"))
    emails = [p["email"] for p in sample["people"]]

    assert all(e.endswith((".example.org", "@example.org")) for e in emails)
    assert len(set(emails)) == len(emails)
    assert SAMPLE_DIRECTORY.read_text(encoding="utf-8").startswith("# SAMPLE DATA — FICTIONAL")


def test_loading_the_sample_twice_changes_nothing(db: Database) -> None:
    load_sample(db, SystemClock())
    before = snapshot(db)

    again = load_sample(db, SystemClock())

    assert [s.changes for s in again] == [0, 0, 0]
    assert all(s.inserted == s.updated == s.skipped == {} for s in again)
    assert again[2].unchanged["role"] > 0
    assert snapshot(db) == before


def test_a_bad_cross_reference_changes_nothing_and_names_its_line(
    essex_schools: Database, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "bad.yaml",
        """\
la_code: 881
partnerships:
  - name: Good Cluster
    kind: slis_cluster
    quadrant: West
    schools: [115141, 114734]
  - name: Bad Cluster
    kind: slis_cluster
    quadrant: Nrth East
    schools: [115141]
people:
  - name: Ivy Example
    email: IVY@Example.ORG
    roles:
      - {role: head, school: 115141}
      - {role: head, school: 999999}
      - {role: partnership_lead, partnership: Missing Cluster}
      - {role: quadrant_chair, quadrant: West}
""",
    )
    before = snapshot(essex_schools)

    with pytest.raises(InvalidImport) as caught:
        import_directory(essex_schools, path, clock=CLOCK)

    assert caught.value.problems == [
        "line 9 (partnerships[1].quadrant): unknown quadrant 'Nrth East' "
        "(did you mean 'North East'?)",
        "line 16 (people[0].roles[1].school): unknown school URN 999999",
        "line 17 (people[0].roles[2].partnership): unknown partnership 'Missing Cluster'",
    ]
    assert snapshot(essex_schools) == before


def test_shape_problems_name_their_line_and_path(essex_schools: Database, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "shapes.yaml",
        """\
la_code: 881
partnerships:
  - {name: A Cluster, kind: federation, schools: [115141]}
alliances:
  - {name: An Alliance, expertise: [safegaurding]}
people:
  - name: Ivy Example
    email: not-an-address
  - name: Jo Example
    email: jo@example.org
    roles:
      - {role: chief}
      - {role: board_member, school: 115141}
      - {role: head}
      - {role: la_officer, quadrant: West, school: 115141}
    colour: blue
""",
    )

    with pytest.raises(InvalidImport) as caught:
        import_directory(essex_schools, path, clock=CLOCK)

    problems = caught.value.problems
    assert problems[0].startswith("line 3 (partnerships[0].kind): kind must be one of slis_cluster")
    assert problems[1].startswith("line 5 (alliances[0].expertise): unknown expertise safegaurding")
    assert problems[2:] == [
        "line 8 (people[0].email): 'not-an-address' is not an e-mail address",
        "line 12 (people[1].roles[0].role): Input should be 'head', 'staff', 'partnership_lead', "
        "'quadrant_chair', 'alliance_lead', 'board_member', 'la_officer', 'association_rep', "
        "'governor' or 'administrator'",
        "line 13 (people[1].roles[1]): board_member is held over the whole local authority: "
        "give no school, partnership, quadrant or alliance",
        "line 14 (people[1].roles[2]): head needs a school",
        "line 15 (people[1].roles[3]): a role has one scope, not school and quadrant",
        "line 16 (people[1].colour): Extra inputs are not permitted",
    ]


def test_yaml_syntax_errors_name_their_line(essex: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", "la_code: 881\npeople:\n  - name: [unclosed\n")

    with pytest.raises(InvalidImport) as caught:
        import_directory(essex, path, clock=CLOCK)

    assert len(caught.value.problems) == 1
    assert re.match(r"line \d+: ", caught.value.problems[0])


def test_structural_problems_stop_even_with_skip_invalid(essex: Database, tmp_path: Path) -> None:
    path = write(
        tmp_path, "odd.yaml", "la_code: 881\nschools: []\npeople: {name: x}\nla_code: 882\n"
    )

    with pytest.raises(InvalidImport) as caught:
        import_directory(essex, path, skip_invalid=True, clock=CLOCK)

    assert caught.value.problems == [
        "line 2 (schools): unknown section; expected one of tenant, la_code, workspaces, "
        "quadrants, partnerships, alliances, people",
        "line 3 (people): must be a list",
        "line 4 (la_code): 'la_code' is given twice (first on line 1)",
    ]


def test_a_file_naming_an_unknown_authority_is_a_user_error(db: Database, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no local authority with LA code 881"):
        import_directory(db, write(tmp_path, "x.yaml", "la_code: 881\n"), clock=CLOCK)


def test_skip_invalid_applies_the_good_entries_and_their_dependants_fail_with_the_bad(
    essex_schools: Database, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "mixed.yaml",
        """\
la_code: 881
partnerships:
  - {name: Good Cluster, kind: slis_cluster, quadrant: West, schools: [115141]}
  - {name: Bad Cluster, kind: slis_cluster, schools: [999999]}
people:
  - name: Ivy Example
    email: ivy@example.org
    roles: [{role: partnership_lead, partnership: Good Cluster}]
  - name: Jo Example
    email: jo@example.org
    roles: [{role: partnership_lead, partnership: Bad Cluster}]
""",
    )

    summary = import_directory(essex_schools, path, skip_invalid=True, clock=CLOCK)

    assert summary.inserted == {"partnership": 1, "membership": 1, "person": 1, "role": 1}
    assert summary.skipped == {"partnership": 1, "person": 1}
    assert summary.problems == [
        "line 4 (partnerships[1].schools[0]): unknown school URN 999999",
        "line 11 (people[1].roles[0].partnership): unknown partnership 'Bad Cluster' "
        "(did you mean 'Good Cluster'?)",
    ]
    assert school(essex_schools, 115141).quadrant_id is not None


def test_people_are_keyed_by_lower_case_email_and_updates_count(
    essex_schools: Database, tmp_path: Path
) -> None:
    first = "la_code: 881\npeople: [{name: Ivy Example, email: Ivy@Example.org}]\n"
    second = (
        "la_code: 881\npeople: [{name: Ivy Exemplar, email: IVY@example.ORG, job_title: Head}]\n"
    )

    assert import_directory(
        essex_schools, write(tmp_path, "1.yaml", first), clock=CLOCK
    ).inserted == {"person": 1}
    summary = import_directory(essex_schools, write(tmp_path, "2.yaml", second), clock=CLOCK)

    assert summary.updated == {"person": 1}
    with essex_schools.session() as s:
        person = s.exec(select(Person)).one()
    assert (person.name, person.email, person.job_title) == (
        "Ivy Exemplar",
        "ivy@example.org",
        "Head",
    )


def test_a_chat_account_linked_to_someone_else_is_an_error(
    essex_schools: Database, tmp_path: Path
) -> None:
    chat = "chat: [{platform: slack, workspace: T0TEST1, user: U0001}]"
    import_directory(
        essex_schools,
        write(
            tmp_path,
            "1.yaml",
            f"la_code: 881\npeople:\n  - {{name: Ivy, email: ivy@example.org, {chat}}}\n",
        ),
        clock=CLOCK,
    )
    before = snapshot(essex_schools)

    with pytest.raises(InvalidImport) as caught:
        import_directory(
            essex_schools,
            write(
                tmp_path,
                "2.yaml",
                f"la_code: 881\npeople:\n  - {{name: Jo, email: jo@example.org, {chat}}}\n",
            ),
            clock=CLOCK,
        )

    assert caught.value.problems == [
        "line 3 (people[0].chat[0]): slack user U0001 is already linked to Ivy <ivy@example.org>"
    ]
    assert snapshot(essex_schools) == before


def test_chat_accounts_need_a_workspace_of_the_authority(essex: Database, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "chat.yaml",
        "la_code: 881\npeople:\n"
        "  - name: Ivy\n    email: ivy@example.org\n"
        "    chat: [{platform: slack, workspace: T0ELSEWHERE, user: U1}]\n",
    )

    with pytest.raises(InvalidImport) as caught:
        import_directory(essex, path, clock=CLOCK)

    assert caught.value.problems == [
        "line 5 (people[0].chat[0]): slack workspace T0ELSEWHERE is not one of this local "
        "authority's: list it under workspaces"
    ]


def test_duplicates_in_the_file_are_problems(essex_schools: Database, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dups.yaml",
        """\
la_code: 881
quadrants: [{name: Mid, districts: [Maldon, maldon]}]
partnerships:
  - {name: A Cluster, kind: other, schools: [115141, 115141]}
  - {name: A Cluster, kind: other}
people:
  - {name: Ivy, email: ivy@example.org}
  - {name: Ivy Again, email: IVY@example.org}
""",
    )

    with pytest.raises(InvalidImport) as caught:
        import_directory(essex_schools, path, clock=CLOCK)

    assert caught.value.problems == [
        "line 2 (quadrants[0].districts[1]): district 'maldon' is given twice (first on line 2)",
        "line 4 (partnerships[0].schools[1]): URN 115141 is listed twice",
        "line 5 (partnerships[1]): partnership 'A Cluster' is given twice (first on line 4)",
        "line 8 (people[1].email): e-mail ivy@example.org is given twice (first on line 7)",
    ]


def test_two_authorities_keep_their_directories_apart(db: Database, tmp_path: Path) -> None:
    load_sample(db, SystemClock())
    other = write(
        tmp_path,
        "other.yaml",
        """\
tenant: {la_code: 882, name: Other LA}
workspaces: [{platform: slack, id: T0OTHER}]
quadrants: [{name: West}]
""",
    )
    import_directory(db, other, clock=CLOCK)
    import_schools(
        db,
        882,
        write(tmp_path, "s.csv", HEADER + "115141,Other LA School,882,Primary,Open\n"),
        clock=CLOCK,
    )
    sample_partnership = yaml.safe_load(SAMPLE_DIRECTORY.read_text(encoding="utf-8"))[
        "partnerships"
    ][0]["name"]
    rest = write(
        tmp_path,
        "other-rest.yaml",
        f"""\
la_code: 882
partnerships: [{{name: {sample_partnership}, kind: mat, quadrant: West, schools: [115141]}}]
people:
  - name: Ada Applethwaite
    email: ada.applethwaite@schools.example.org
    roles: [{{role: head, school: 115141}}]
""",
    )

    summary = import_directory(db, rest, clock=CLOCK)

    assert summary.inserted == {"partnership": 1, "membership": 1, "person": 1, "role": 1}
    assert summary.updated == {"school": 1}
    assert count(db, Partnership, name=sample_partnership) == 2
    assert count(db, Person, email="ada.applethwaite@schools.example.org") == 2
    assert [s.changes for s in load_sample(db, SystemClock())] == [0, 0, 0]


def test_a_workspace_of_another_authority_cannot_be_claimed(
    essex: Database, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "grab.yaml",
        "tenant: {la_code: 882, name: Other LA}\nworkspaces: [{platform: slack, id: T0TEST1}]\n",
    )

    with pytest.raises(InvalidImport) as caught:
        import_directory(essex, path, clock=CLOCK)

    assert caught.value.problems == [
        "line 2 (workspaces[0].id): slack workspace T0TEST1 belongs to another local authority"
    ]
    assert count(essex, Tenant) == 1


def test_tenant_settings_are_updated_in_place(essex: Database, tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", "tenant: {la_code: 881, name: Essex CC, day_rate: 475.50}\n")

    summary = import_directory(essex, path, clock=CLOCK)

    assert summary.updated == {"tenant": 1}
    with essex.session() as s:
        tenant = s.exec(select(Tenant)).one()
    assert count(essex, Quadrant) == 2
    assert (tenant.name, tenant.day_rate_pence, tenant.timezone) == (
        "Essex CC",
        47550,
        "Europe/London",
    )


def test_the_summary_reads_well() -> None:
    summary = ImportSummary(
        inserted={"role": 2, "school": 1},
        unchanged={"school": 3},
        skipped={"person": 1},
        problems=["line 4 (people[0].email): 'x' is not an e-mail address"],
        source="d.yaml",
    )

    assert summary.lines() == [
        "d.yaml:",
        "  school: 1 inserted, 3 unchanged",
        "  person: 1 skipped",
        "  role: 2 inserted",
        "  1 problem(s); left out:",
        "    line 4 (people[0].email): 'x' is not an e-mail address",
    ]
    assert ImportSummary(source="e.yaml").lines() == ["e.yaml: nothing to import"]
