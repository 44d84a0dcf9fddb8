"""Healthcheck templates: the shipped ones load, bad ones are refused line by line, and answer
sets are checked against the questions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.errors import InvalidImport
from bot.services.healthcheck import (
    Template,
    TemplateError,
    load_template,
    load_templates,
    shipped_templates,
)
from bot.services.healthcheck.templates import (
    SHIPPED,
    MultipleQuestion,
    RagQuestion,
    RankingQuestion,
    ScaleQuestion,
    SingleQuestion,
    TextQuestion,
)
from bot.types import Role

NINE = [
    "vision",
    "trust",
    "engagement",
    "system_leadership",
    "la_role",
    "support_capacity",
    "regional_links",
    "financial_contributions",
    "partnership_structures",
]
DIAMOND = [
    ["trust"],
    ["vision", "engagement"],
    ["system_leadership", "la_role", "support_capacity"],
    ["regional_links", "partnership_structures"],
    ["financial_contributions"],
]

# Every question type once; the problems below are small edits of it.
GOOD = """\
id: kitchen_sink
title: Every kind of question
description: One of each.
scope: partnership
respondent_roles: [partnership_lead, head]
items:
  - {id: alpha, label: Alpha}
  - {id: beta, label: Beta}
  - {id: gamma, label: Gamma}
questions:
  - id: rating
    type: scale
    item: alpha
    text: How well?
    min: 1
    max: 3
    labels: [Low, Middle, High]
    descriptors: [Not at all, Somewhat, Fully]
    comment: {label: "Why?", max_length: 20}
  - id: pick_one
    type: single
    text: Which one?
    choices:
      - {id: "yes", label: "Yes"}
      - {id: "no", label: "No"}
  - id: pick_some
    type: multiple
    text: Which ones?
    required: false
    min_selections: 1
    max_selections: 2
    choices: [{id: a, label: A}, {id: b, label: B}, {id: c, label: C}]
  - id: colour
    type: rag
    text: What colour?
    descriptors: {red: Bad, amber: So-so, green: Good}
  - id: notes
    type: text
    text: Anything else?
    required: false
    max_length: 10
  - id: order
    type: ranking
    text: Put them in order
    items: [alpha, beta, gamma]
    shape: [1, 2]
"""

GOOD_ANSWERS: dict[str, Any] = {
    "rating": 2,
    "pick_one": "yes",
    "pick_some": ["a", "c"],
    "colour": "amber",
    "notes": "fine",
    "order": [["beta"], ["alpha", "gamma"]],
}


def write(tmp_path: Path, text: str, name: str = "template.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """The 1-based line of the `nth` line containing `needle`."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[nth - 1]


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(TemplateError) as caught:
        load_template(write(tmp_path, text))
    assert str(caught.value).startswith("template.yaml: ")
    return caught.value.problems


def edit(old: str, new: str, text: str = GOOD) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return load_template(write(tmp_path_factory.mktemp("sink"), GOOD))


# --- the shipped templates ------------------------------------------------------------------


def test_the_three_shipped_templates_load() -> None:
    templates = shipped_templates()
    assert set(templates) == {"partnership_healthcheck", "partnership_maturity", "school_checkin"}
    assert {p.stem for p in SHIPPED.glob("*.yaml")} == set(templates)


def test_partnership_healthcheck_rates_the_nine_conditions_and_ranks_them_in_a_diamond() -> None:
    t = shipped_templates()["partnership_healthcheck"]
    assert t.scope == "partnership"
    assert set(t.respondent_roles) == {Role.PARTNERSHIP_LEAD, Role.HEAD}
    assert [i.id for i in t.items] == NINE
    scales = [q for q in t.questions if isinstance(q, ScaleQuestion)]
    assert [q.item for q in scales] == NINE
    for q in scales:
        assert (q.min, q.max) == (1, 4)
        assert len(q.descriptors) == 4
        assert q.comment is not None
        assert q.required
    assert t.item_label("trust").startswith("Trust and high social capital")
    with pytest.raises(KeyError):
        t.item_label("morale")
    with pytest.raises(KeyError):
        t.question("morale")
    ranking = t.question("diamond_nine")
    assert isinstance(ranking, RankingQuestion)
    assert list(ranking.items) == NINE
    assert ranking.tiers == (1, 2, 3, 2, 1)
    assert ranking.top_label == "Greatest strength"
    assert ranking.bottom_label == "Most improvement needed"


def test_partnership_maturity_places_four_strands_from_emerging_to_leading() -> None:
    t = shipped_templates()["partnership_maturity"]
    strands = [q for q in t.questions if isinstance(q, ScaleQuestion)]
    assert [q.id for q in strands] == [
        "systems_and_processes",
        "architecture",
        "people",
        "mindset_and_culture",
    ]
    for q in strands:
        assert q.labels == ("Emerging", "Developing", "Embedded", "Leading")
        assert len(q.descriptors) == 4


def test_school_checkin_asks_for_a_rag_rating_notes_and_whether_support_is_welcome() -> None:
    t = shipped_templates()["school_checkin"]
    assert t.scope == "school"
    assert t.respondent_roles == (Role.HEAD,)
    position = t.question("current_position")
    assert isinstance(position, RagQuestion)
    assert isinstance(t.question("position_notes"), TextQuestion)
    support = t.question("welcome_support")
    assert isinstance(support, SingleQuestion)
    assert [(c.id, c.label) for c in support.choices] == [
        ("yes", "Yes"),
        ("no", "No"),
        ("not_now", "Not now"),
    ]


def test_shipped_templates_are_read_once_and_the_cache_cannot_be_changed_by_callers() -> None:
    first = shipped_templates()
    first.pop("school_checkin")
    again = shipped_templates()
    assert "school_checkin" in again
    assert again["partnership_maturity"] is first["partnership_maturity"]


@pytest.mark.parametrize("template_id", ["partnership_healthcheck", "partnership_maturity"])
def test_snapshots_survive_json_and_come_back_equal(template_id: str) -> None:
    t = shipped_templates()[template_id]
    stored = json.loads(json.dumps(t.snapshot()))
    assert Template.from_snapshot(stored) == t


def test_a_snapshot_is_checked_again_when_read_back() -> None:
    snapshot = shipped_templates()["partnership_healthcheck"].snapshot()
    ranking = next(q for q in snapshot["questions"] if q["id"] == "diamond_nine")
    ranking["shape"] = [1, 2, 3, 2]
    with pytest.raises(ValidationError, match="8 places, but the ranking has 9 items"):
        Template.from_snapshot(snapshot)


# --- refusing bad templates, each problem on its line ---------------------------------------


def test_the_kitchen_sink_loads(sink: Template) -> None:
    kinds = [type(q) for q in sink.questions]
    assert kinds == [
        ScaleQuestion,
        SingleQuestion,
        MultipleQuestion,
        RagQuestion,
        TextQuestion,
        RankingQuestion,
    ]
    rating = sink.question("rating")
    assert isinstance(rating, ScaleQuestion)
    assert rating.comment is not None and rating.comment.max_length == 20


BAD = [
    pytest.param(
        edit("    type: rag\n", "    type: traffic_light\n"),
        "type: traffic_light",
        "unknown question type 'traffic_light'; use scale, single, multiple, rag, text or ranking",
        id="unknown-type",
    ),
    pytest.param(
        edit("  - id: notes\n", "  - id: colour  # again\n"),
        "# again",
        "duplicate question id 'colour' (first at questions[3].id)",
        id="duplicate-question-id",
    ),
    pytest.param(
        edit("{id: gamma, label: Gamma}", "{id: beta, label: Gamma}"),
        "label: Gamma",
        "duplicate item id 'beta' (first at items[1].id)",
        id="duplicate-item-id",
    ),
    pytest.param(
        edit("{id: c, label: C}", "{id: a, label: C}"),
        "label: C}",
        "duplicate choice id 'a' (first at questions[2].choices[0].id)",
        id="duplicate-choice-id",
    ),
    pytest.param(
        edit("    max: 3\n", "    max: 1\n"),
        "max: 1",
        "a scale's max must be above its min (min 1, max 1)",
        id="scale-min-not-below-max",
    ),
    pytest.param(
        edit("[Not at all, Somewhat, Fully]", "[Not at all, Fully]"),
        "descriptors: [Not at all, Fully]",
        "a 1-3 scale has 3 points, so it needs 3 descriptors, not 2",
        id="descriptors-per-point",
    ),
    pytest.param(
        edit("[Low, Middle, High]", "[Low, Middle, High, Higher]"),
        "labels:",
        "a 1-3 scale has 3 points, so it needs 3 labels, not 4",
        id="labels-per-point",
    ),
    pytest.param(
        edit("shape: [1, 2]", "shape: [1, 1]"),
        "shape: [1, 1]",
        "the shape's tiers hold 1+1 = 2 places, but the ranking has 3 items",
        id="ranking-shape-sum",
    ),
    pytest.param(
        edit("items: [alpha, beta, gamma]", "items: [alpha, beta, delta]"),
        "items: [alpha, beta, delta]",
        "unknown item 'delta'; the template's items are alpha, beta, gamma",
        id="ranking-unknown-item",
    ),
    pytest.param(
        edit("    item: alpha\n", "    item: omega\n"),
        "item: omega",
        "unknown item 'omega'; the template's items are alpha, beta, gamma",
        id="scale-unknown-item",
    ),
    pytest.param(
        edit("items: [alpha, beta, gamma]", "items: [alpha, beta, beta]"),
        "items: [alpha, beta, beta]",
        "duplicate ranked item id 'beta' (first at questions[5].items[1])",
        id="ranking-item-twice",
    ),
    pytest.param(
        edit("    min_selections: 1\n", "    min_selections: 3\n"),
        "min_selections: 3",
        "min_selections (3) is above max_selections (2)",
        id="selections-min-above-max",
    ),
    pytest.param(
        edit("    max_selections: 2\n", "    max_selections: 4\n"),
        "max_selections: 4",
        "max_selections (4) is more than the 3 choices",
        id="selections-above-choices",
    ),
    pytest.param(
        edit("    descriptors: {red: Bad, amber: So-so, green: Good}\n", ""),
        "id: colour",
        "descriptors): is missing",
        id="missing-key",
    ),
    pytest.param(
        edit(
            "    required: false\n    max_length: 10\n", "    required: false\n    maxlength: 10\n"
        ),
        "maxlength: 10",
        "unknown key (check its spelling)",
        id="unknown-key",
    ),
    pytest.param(
        edit('{id: "yes", label: "Yes"}', '{id: yes, label: "Yes"}'),
        '{id: yes, label: "Yes"}',
        'put it in quotes, e.g. "yes"',
        id="unquoted-yes",
    ),
    pytest.param(
        edit("  - id: notes\n", "  - id: Notes!\n"),
        "id: Notes!",
        "'Notes!' is not a valid id: use lower-case letters, digits and _",
        id="bad-slug",
    ),
    pytest.param(
        edit("    max: 3\n", '    max: "3"\n'),
        'max: "3"',
        "Input should be a valid integer",
        id="number-as-text",
    ),
    pytest.param(
        edit("[partnership_lead, head]", "[partnership_lead, headmaster]"),
        "respondent_roles:",
        "Input should be 'head'",
        id="unknown-role",
    ),
    pytest.param(
        edit("scope: partnership", "scope: county"),
        "scope: county",
        "Input should be 'school' or 'partnership'",
        id="unknown-scope",
    ),
    pytest.param(
        edit("    text: Anything else?\n", "    text: Anything else?\n    text: Or not?\n"),
        "text: Or not?",
        "'text' is given twice (first on line",
        id="yaml-duplicate-key",
    ),
    pytest.param(
        edit("  - id: pick_one\n", "  - id: pick_one\n    kind: single\n").replace(
            "    type: single\n", ""
        ),
        "id: pick_one",
        "a question needs a `type`: scale, single, multiple, rag, text or ranking",
        id="no-type",
    ),
]


@pytest.mark.parametrize(("text", "at", "message"), BAD)
def test_each_broken_rule_is_reported_on_its_line(
    tmp_path: Path, text: str, at: str, message: str
) -> None:
    problems = problems_of(tmp_path, text)
    line = line_of(text, at)
    assert any(p.startswith(f"line {line} (") and message in p for p in problems), problems


def test_every_problem_in_a_file_is_reported_in_one_pass(tmp_path: Path) -> None:
    text = edit("    type: rag\n", "    type: traffic_light\n")  # a shape problem...
    text = edit("    max: 3\n", "    max: 1\n", text)  # ...and rule problems elsewhere
    text = edit("shape: [1, 2]", "shape: [2, 2]", text)
    text = edit("  - id: notes\n", "  - id: pick_one\n", text)
    problems = problems_of(tmp_path, text)
    assert [p.split(" (")[0] for p in problems] == [
        f"line {line_of(text, 'max: 1')}",
        f"line {line_of(text, 'traffic_light')}",
        f"line {line_of(text, 'id: pick_one', 2)}",
        f"line {line_of(text, 'shape: [2, 2]')}",
    ]
    assert problems[0] == (
        f"line {line_of(text, 'max: 1')} (questions[0].max): "
        "a scale's max must be above its min (min 1, max 1)"
    )


def test_the_error_is_an_invalid_import_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, edit("    max: 3\n", "    max: 1\n"), name="my_survey.yaml")
    with pytest.raises(InvalidImport) as caught:
        load_template(path)
    assert isinstance(caught.value, TemplateError)
    assert str(caught.value) == "my_survey.yaml: 1 problem(s) in the template"
    assert caught.value.source == "my_survey.yaml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- just\n- a list\n", "line 1 (file): a template is a mapping with id, title"),
        ("id: x\ntitle: [unclosed\n", "line 3: expected ',' or ']'"),
        ("", "line 1 (file): a template is a mapping"),
    ],
)
def test_files_that_are_not_templates_at_all(tmp_path: Path, text: str, expected: str) -> None:
    problems = problems_of(tmp_path, text)
    assert problems[0].startswith(expected), problems


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_bytes(GOOD.encode("utf-8") + "title: café\n".encode("latin-1"))
    with pytest.raises(TemplateError, match="1 problem") as caught:
        load_template(path)
    assert "not UTF-8" in caught.value.problems[0]


def test_a_directory_of_templates_is_read_by_id_and_every_file_checked(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    assert list(load_templates(tmp_path)) == ["kitchen_sink"]
    write(tmp_path, GOOD, "b.yaml")
    write(tmp_path, edit("    max: 3\n", "    max: 1\n"), "c.yaml")
    with pytest.raises(TemplateError) as caught:
        load_templates(tmp_path)
    assert caught.value.problems == [
        "b.yaml: line 1 (id): template id 'kitchen_sink' is already used by a.yaml",
        f"c.yaml: line {line_of(GOOD, 'max: 3')} (questions[0].max): "
        "a scale's max must be above its min (min 1, max 1)",
    ]


def test_yaml_anchors_are_followed(tmp_path: Path) -> None:
    text = edit("    labels: [Low, Middle, High]\n", "    labels: &three [Low, Middle, High]\n")
    text = edit(
        "    descriptors: [Not at all, Somewhat, Fully]\n", "    descriptors: *three\n", text
    )
    rating = load_template(write(tmp_path, text)).question("rating")
    assert isinstance(rating, ScaleQuestion)
    assert rating.descriptors == ("Low", "Middle", "High")


# --- checking answers -----------------------------------------------------------------------


def test_a_complete_good_answer_set_has_no_problems(sink: Template) -> None:
    assert sink.validate_answers(GOOD_ANSWERS, {"rating": "short"}) == []


def test_optional_questions_may_be_left_blank(sink: Template) -> None:
    answers = {**GOOD_ANSWERS, "notes": "   ", "pick_some": []}
    del answers["order"]
    answers["order"] = [["gamma"], ["beta", "alpha"]]
    assert sink.validate_answers(answers) == []
    assert sink.validate_answers({k: v for k, v in answers.items() if k != "notes"}) == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"rating": None}, "rating: an answer is required"),
        ({"rating": 4}, "rating: choose a whole number from 1 to 3"),
        ({"rating": 0}, "rating: choose a whole number from 1 to 3"),
        ({"rating": True}, "rating: choose a whole number from 1 to 3"),
        ({"rating": "2"}, "rating: choose a whole number from 1 to 3"),
        ({"rating": 2.0}, "rating: choose a whole number from 1 to 3"),
        ({"pick_one": "maybe"}, "pick_one: choose one of Yes or No"),
        ({"pick_one": ["yes"]}, "pick_one: choose one of Yes or No"),
        ({"pick_some": ["a", "b", "c"]}, "pick_some: choose at most 2"),
        ({"pick_some": ["a", "a"]}, "pick_some: choose each option at most once"),
        ({"pick_some": ["d"]}, "pick_some: unknown choice(s) d; choose from a, b or c"),
        ({"pick_some": "a"}, "pick_some: give a list of choices"),
        ({"colour": "blue"}, "colour: choose red, amber or green"),
        ({"colour": ""}, "colour: an answer is required"),
        ({"notes": "x" * 11}, "notes: the answer is 11 characters long; the limit is 10"),
        ({"notes": 7}, "notes: give the answer as text"),
        ({"mystery": 1}, "mystery: there is no such question in this survey"),
    ],
)
def test_bad_answers_are_named_by_question(
    sink: Template, changes: dict[str, Any], problem: str
) -> None:
    assert sink.validate_answers({**GOOD_ANSWERS, **changes}) == [problem]


def test_a_multiple_choice_with_a_minimum_needs_that_many_once_answered(tmp_path: Path) -> None:
    t = load_template(write(tmp_path, edit("    min_selections: 1\n", "    min_selections: 2\n")))
    assert t.validate_answers({**GOOD_ANSWERS, "pick_some": ["a"]}) == [
        "pick_some: choose at least 2"
    ]


@pytest.mark.parametrize(
    ("comments", "problem"),
    [
        (
            {"rating": "x" * 21},
            "rating (comment): the comment is 21 characters long; the limit is 20",
        ),
        ({"colour": "hmm"}, "colour (comment): this question takes no comment"),
        ({"nothing": "hmm"}, "nothing (comment): there is no such question in this survey"),
        ({"rating": 5}, "rating (comment): give the comment as text"),
    ],
)
def test_comments_are_checked_too(sink: Template, comments: dict[str, Any], problem: str) -> None:
    assert sink.validate_answers(GOOD_ANSWERS, comments) == [problem]


def test_every_problem_of_an_answer_set_is_listed_in_question_order(sink: Template) -> None:
    answers = {"rating": 9, "colour": "blue", "extra": 1}
    assert sink.validate_answers(answers) == [
        "extra: there is no such question in this survey",
        "rating: choose a whole number from 1 to 3",
        "pick_one: an answer is required",
        "colour: choose red, amber or green",
        "order: an answer is required",
    ]
    problems = sink.answer_problems(answers)
    assert [(p.question_id, p.part) for p in problems][:2] == [
        ("extra", "answer"),
        ("rating", "answer"),
    ]


def good_healthcheck_answers() -> dict[str, Any]:
    answers: dict[str, Any] = {condition: 1 + n % 4 for n, condition in enumerate(NINE)}
    answers["diamond_nine"] = DIAMOND
    return answers


def test_a_full_partnership_healthcheck_answer_is_accepted() -> None:
    t = shipped_templates()["partnership_healthcheck"]
    comments = {"trust": "Strong since the peer review programme began."}
    assert t.validate_answers(good_healthcheck_answers(), comments) == []
    as_tuples = {
        **good_healthcheck_answers(),
        "diamond_nine": tuple(tuple(tier) for tier in DIAMOND),
    }
    assert t.validate_answers(as_tuples) == []


@pytest.mark.parametrize(
    ("diamond", "problem"),
    [
        (
            [
                ["trust"],
                ["vision", "engagement", "la_role"],
                ["system_leadership"],
                ["support_capacity", "regional_links"],
                ["partnership_structures"],
                ["financial_contributions"],
            ],
            "the tiers hold 1-3-1-2-1-1 items; this ranking needs 1-2-3-2-1",
        ),
        (
            [["trust", "vision"], ["engagement"], *DIAMOND[2:]],
            "the tiers hold 2-1-3-2-1 items; this ranking needs 1-2-3-2-1",
        ),
        (
            [["trust"], ["vision", "trust"], *DIAMOND[2:]],
            "trust placed more than once; place each item once",
        ),
        (DIAMOND[:4], "place every item; financial_contributions missing"),
        ([["trust"], ["vision", "morale"], *DIAMOND[2:]], "unknown item(s) morale"),
        (NINE, "give each tier as a list of item ids"),
        ("trust", "give the ranking as a list of tiers, top first"),
    ],
)
def test_a_diamond_nine_must_place_every_condition_once_in_the_diamond_shape(
    diamond: Any, problem: str
) -> None:
    t = shipped_templates()["partnership_healthcheck"]
    answers = {**good_healthcheck_answers(), "diamond_nine": diamond}
    assert t.validate_answers(answers) == [f"diamond_nine: {problem}"]


def test_a_ranking_without_a_shape_has_one_item_per_tier(tmp_path: Path) -> None:
    t = load_template(write(tmp_path, edit("    shape: [1, 2]\n", "")))
    order = t.question("order")
    assert isinstance(order, RankingQuestion)
    assert order.tiers == (1, 1, 1)
    good = {**GOOD_ANSWERS, "order": [["gamma"], ["alpha"], ["beta"]]}
    assert t.validate_answers(good) == []
    assert t.validate_answers({**GOOD_ANSWERS, "order": [["gamma", "alpha"], ["beta"]]}) == [
        "order: the tiers hold 2-1 items; this ranking needs 1-1-1"
    ]


def test_shipped_school_checkin_answers() -> None:
    t = shipped_templates()["school_checkin"]
    good = {"current_position": "amber", "welcome_support": "not_now"}
    assert t.validate_answers(good) == []
    assert t.validate_answers({**good, "welcome_support": True}) == [
        "welcome_support: choose one of Yes, No or Not now"
    ]
