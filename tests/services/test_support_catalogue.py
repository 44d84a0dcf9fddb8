"""The support catalogue: the shipped one loads with every category issue 5 names, bad files are
refused line by line, and categories are found by id, route and expertise tag."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from bot.app import build_core
from bot.config import ConfigError, Settings
from bot.errors import InvalidImport
from bot.services.directory_file import EXPERTISE_TAGS
from bot.services.support.catalogue import (
    SHIPPED,
    Catalogue,
    CatalogueError,
    Catalogues,
    Category,
    load_catalogue,
    shipped_catalogue,
)
from storage.engine import Database
from storage.models import Tenant
from tests.factories import SEEDED_AT

TRADED = {
    "headteacher_performance_management",
    "leader_recruitment",
    "governance_review",
    "collaborative_review",
    "challenging_parents",
    "governing_body_support",
    "sen_review",
    "pupil_premium_review",
    "safeguarding_audit",
    "self_evaluation_qa",
    "planning_events",
    "peer_review",
    "subject_expertise",
    "phase_expertise",
    "other",
}

SAMPLE = Path(__file__).resolve().parents[2] / "bot" / "data" / "sample_directory.yaml"

GOOD = """\
categories:
  - id: governance_review
    label: Review of governance
    tags: [governance]
    default_days: 1.5
  - id: other
    label: Other
  - id: concern
    label: Safeguarding concern
    route: la
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalogue.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(write(tmp_path, text))
    assert isinstance(caught.value, InvalidImport)
    return caught.value.problems


def test_the_shipped_catalogue_has_every_category() -> None:
    catalogue = shipped_catalogue()
    assert {c.id for c in catalogue.traded()} == TRADED
    assert {c.id for c in catalogue.categories} == TRADED | {"safeguarding_concern"}
    assert catalogue.category("safeguarding_concern").route == "la"
    assert catalogue.category("safeguarding_concern").tags == ()
    assert catalogue.category("other").tags == ()
    assert shipped_catalogue() is catalogue
    assert load_catalogue(SHIPPED) == catalogue


def test_the_shipped_tags_are_ones_the_sample_alliances_have() -> None:
    sample = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    offered = {tag for alliance in sample["alliances"] for tag in alliance["expertise"]}
    for category in shipped_catalogue().traded():
        if category.id != "other":
            assert set(category.tags) & offered, category.id
    used = {tag for c in shipped_catalogue().categories for tag in c.tags}
    assert used <= EXPERTISE_TAGS


def test_a_good_file_loads(tmp_path: Path) -> None:
    catalogue = load_catalogue(write(tmp_path, GOOD))
    review = catalogue.category("governance_review")
    assert review == Category(
        id="governance_review",
        label="Review of governance",
        tags=("governance",),
        default_days=Decimal("1.5"),
    )
    assert review.traded
    assert catalogue.category("other").default_days is None
    assert not catalogue.category("concern").traded


def test_lookups(tmp_path: Path) -> None:
    catalogue = load_catalogue(write(tmp_path, GOOD))
    assert [c.id for c in catalogue.traded()] == ["governance_review", "other"]
    assert [c.id for c in catalogue.for_tag("governance")] == ["governance_review"]
    assert catalogue.for_tag("maths") == ()
    with pytest.raises(KeyError, match=r"no support category 'nope'.*governance_review"):
        catalogue.category("nope")
    shipped = shipped_catalogue()
    assert [c.id for c in shipped.for_tag("send")] == ["sen_review"]
    assert {c.id for c in shipped.for_tag("peer_review")} == {"collaborative_review", "peer_review"}
    assert "safeguarding_concern" not in {c.id for c in shipped.for_tag("safeguarding")}


def test_a_bad_file_names_every_problem_with_its_line(tmp_path: Path) -> None:
    text = """\
categories:
  - id: review
    label: Review
    route: la
  - id: review
    label: Another review
    route: la
  - id: audit
    lable: Audit
    route: la
  - id: subjects
    label: Subjects
    tags: [maths, Not A Tag]
    route: la
  - id: no
    label: Trap
    route: la
  - id: stars
    label: Stars
    tags: [astrology]
    route: la
"""
    assert problems(tmp_path, text) == [
        "line 1 (categories): at least one category must be traded (route: traded)",
        "line 5 (categories[1].id): duplicate category id 'review' (first at categories[0].id)",
        "line 8 (categories[2].label): is missing",
        "line 9 (categories[2].lable): unknown key (check its spelling)",
        "line 13 (categories[3].tags[1]): 'Not A Tag' is not a valid id: use lower-case "
        "letters, digits and _, starting with a letter (at most 64)",
        "line 15 (categories[4].id): YAML reads an unquoted yes, no, on, off, true or false as "
        'a true/false value: put it in quotes, e.g. "yes"',
        "line 20 (categories[5].tags): a category routed to the LA is not offered to alliances, "
        "so it takes no tags",
        "line 20 (categories[5].tags[0]): unknown expertise tag 'astrology'; alliances' tags are "
        + ", ".join(sorted(EXPERTISE_TAGS)),
    ]


def test_no_traded_category(tmp_path: Path) -> None:
    text = "categories:\n  - {id: concern, label: Concern, route: la}\n"
    assert problems(tmp_path, text) == [
        "line 1 (categories): at least one category must be traded (route: traded)"
    ]


def test_a_broken_category_that_would_be_traded_does_not_say_nothing_is(tmp_path: Path) -> None:
    text = "categories:\n  - {id: concern, label: Concern, route: la}\n  - {id: x}\n"
    assert problems(tmp_path, text) == ["line 3 (categories[1].label): is missing"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "line 1 (file): a catalogue is a mapping with a `categories` list"),
        ("categories: []\n", "line 1 (categories): list at least one category"),
        ("categories: [{id: a, label: A}]\nextra: 1\n", "line 2 (extra): unknown key"),
        ("categories: [{id: a, label: A, route: lea}]\n", "line 1 (categories[0].route): Input"),
        ("categories: [{id: a, label: A, default_days: 0}]\n", "(categories[0].default_days)"),
        ("categories: [{id: a, label: A, default_days: 1.2}]\n", "multiple of 0.5"),
        ("categories: [{id: a, label: A, tags: [on]}]\n", "line 1 (categories[0].tags[0]): YAML"),
        ("categories: [{id: a, label: A, tags: [send, send]}]\n", "tag 'send' is given twice"),
        ("categories:\n  - id: a\n    id: b\n    label: B\n", "line 3 (categories[0].id): 'id'"),
        ("categories: [{id: a, label: [A\n", "line 2"),
    ],
)
def test_each_rule_is_named(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)
    assert len(found) == 1, found
    assert expected in found[0]


def test_a_catalogue_built_in_code_keeps_the_rules() -> None:
    other = Category(id="other", label="Other")
    with pytest.raises(ValidationError, match="duplicate category id 'other'"):
        Catalogue(categories=(other, other))
    with pytest.raises(ValidationError, match="at least one category must be traded"):
        Catalogue(categories=(Category(id="c", label="C", route="la"),))


def test_each_local_authority_may_have_its_own_catalogue(db: Database, tmp_path: Path) -> None:
    with db.session() as s:
        essex = Tenant(name="Essex", la_code=881, created_at=SEEDED_AT)
        suffolk = Tenant(name="Suffolk", la_code=935, created_at=SEEDED_AT)
        s.add_all([essex, suffolk])
    folder = tmp_path / "catalogues"
    folder.mkdir()
    (folder / "881.yaml").write_text(GOOD, encoding="utf-8")
    catalogues = Catalogues(db, folder)
    assert catalogues.check() == [folder / "881.yaml"]
    assert essex.id is not None and suffolk.id is not None
    assert [c.id for c in catalogues(essex.id).categories] == [
        "governance_review",
        "other",
        "concern",
    ]
    assert catalogues(suffolk.id) == shipped_catalogue()
    assert Catalogues(db)(essex.id) == shipped_catalogue()


def test_a_bad_catalogue_stops_the_bot_at_start_naming_the_line(
    database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "catalogues"
    folder.mkdir()
    (folder / "881.yaml").write_text(GOOD.replace("route: la", "route: sideways"), "utf-8")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=database_url, slis_support_catalogues=folder
    )
    with pytest.raises(ConfigError, match=r"881\.yaml.*line 10 .*route"):
        build_core(settings)
