"""Healthcheck templates: the questions of a survey, as YAML files an administrator can write.

A template file, in brief (the shipped ones are in `bot/data/healthcheck/`):

    id: partnership_healthcheck      # a slug: lower-case letters, digits and _
    title: Partnership healthcheck
    description: ...
    scope: partnership               # what one response is about: school | partnership
    respondent_roles: [partnership_lead, head]
    items:                           # optional: what questions rate and rankings order
      - {id: vision, label: A clear and compelling vision for the local system}
    questions:
      - id: vision                   # stable: answers are stored under it
        type: scale                  # scale | single | multiple | rag | text | ranking
        text: A clear and compelling vision
        help: ...                    # optional
        required: true               # optional; true unless said otherwise
        comment: true                # optional comment box: true, or {label: ..., max_length: 500}
        item: vision                 # optional (scale, rag): the item the question rates
        min: 1
        max: 4
        labels: [Not yet, Partly, Largely, Fully]   # optional, one per point
        descriptors: [..., ..., ..., ...]           # one per point
      - {id: support, type: single, choices: [{id: "yes", label: "Yes"}, {id: "no", label: "No"}]}
      - {id: areas, type: multiple, choices: [...], min_selections: 1, max_selections: 3}
      - {id: position, type: rag, descriptors: {red: ..., amber: ..., green: ...}}
      - {id: notes, type: text, max_length: 1500}
      - id: diamond_nine
        type: ranking
        items: [vision, trust, ...]  # ids from `items`
        shape: [1, 2, 3, 2, 1]       # optional: places per tier, top first; default one per tier
        top_label: Greatest strength
        bottom_label: Most improvement needed

Answers, as `Template.validate_answers` takes them and the database stores them (JSON): scale an
int; single a choice id; multiple a list of choice ids; rag "red", "amber" or "green"; text a
string; ranking a list of tiers from the top, each a list of item ids.
"""

from __future__ import annotations

import functools
import re
from abc import abstractmethod
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.errors import InvalidImport
from bot.services.directory_file import LineIndex, Loc, read_marked_yaml, render_loc
from bot.types import Role

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "healthcheck"

QUESTION_TYPES = ("scale", "single", "multiple", "rag", "text", "ranking")
RAG = ("red", "amber", "green")
SCALE_MAX_POINTS = 10
TEXT_MAX_LENGTH = 3000  # the longest text a Slack or Teams input takes
TOP_KEYS = ("id", "title", "description", "scope", "respondent_roles", "items", "questions")

SLUG = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Validation context that leaves the cross-reference rules to `load_template`, which can say
# on which line each problem is.
_LOCATED_RULES = "located_rules"

T = TypeVar("T")


class TemplateError(InvalidImport):
    """A template file is not valid; each problem names its line and the rule broken."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(source, problems)
        self.args = (f"{source}: {len(problems)} problem(s) in the template",)


def _not_yaml_boolean(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError(
            "YAML reads an unquoted yes, no, on, off, true or false as a true/false value: "
            'put it in quotes, e.g. "yes"'
        )
    return value


def _slug(value: str) -> str:
    if not SLUG.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid id: use lower-case letters, digits and _, "
            "starting with a letter (at most 64)"
        )
    return value


Slug = Annotated[str, BeforeValidator(_not_yaml_boolean), AfterValidator(_slug)]
Label = Annotated[str, BeforeValidator(_not_yaml_boolean), Field(min_length=1, max_length=200)]
Prose = Annotated[str, Field(min_length=1, max_length=1000)]
Count = Annotated[int, Field(ge=0, strict=True)]


class Spec(BaseModel):
    """A part of a template: unknown keys are mistakes, surrounding spaces are not meaningful."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Item(Spec):
    """Something the template is about (a condition, a strand) that questions can refer to."""

    id: Slug
    label: Label
    description: Prose | None = None


class Choice(Spec):
    """One option of a single- or multiple-choice question; answers store its id."""

    id: Slug
    label: Label


class CommentBox(Spec):
    """An optional free-text comment beside a question."""

    label: Label = "Comment (optional)"
    max_length: Annotated[int, Field(ge=1, le=TEXT_MAX_LENGTH, strict=True)] = 1000


class RagDescriptors(Spec):
    """What red, amber and green mean for one question."""

    red: Prose
    amber: Prose
    green: Prose


class QuestionBase(Spec):
    """What every question has: a stable id, its wording, and whether it must be answered."""

    id: Slug
    text: Annotated[str, Field(min_length=1, max_length=500)]
    help: Annotated[str, Field(max_length=2000)] = ""
    required: Annotated[bool, Field(strict=True)] = True
    comment: CommentBox | None = None

    @field_validator("comment", mode="before")
    @classmethod
    def _comment_shorthand(cls, value: object) -> object:
        if value is True:
            return {}
        if value is False:
            return None
        return value

    @abstractmethod
    def answer_problem(self, value: object) -> str | None:
        """Why `value` (not blank) is not an answer to this question, or None if it is."""


class ScaleQuestion(QuestionBase):
    """A rating on whole-number points from `min` to `max`, each point described."""

    type: Literal["scale"]
    item: Slug | None = None
    min: Annotated[int, Field(strict=True)]
    max: Annotated[int, Field(strict=True)]
    labels: tuple[Label, ...] | None = None
    descriptors: tuple[Prose, ...]

    @property
    def points(self) -> range:
        return range(self.min, self.max + 1)

    def answer_problem(self, value: object) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool) and value in self.points:
            return None
        return f"choose a whole number from {self.min} to {self.max}"


class SingleQuestion(QuestionBase):
    """One choice from a list."""

    type: Literal["single"]
    choices: Annotated[tuple[Choice, ...], Field(min_length=2, max_length=50)]

    def answer_problem(self, value: object) -> str | None:
        if isinstance(value, str) and value in {c.id for c in self.choices}:
            return None
        return "choose one of " + _or(c.label for c in self.choices)


class MultipleQuestion(QuestionBase):
    """Any number of choices from a list, within `min_selections` and `max_selections`."""

    type: Literal["multiple"]
    choices: Annotated[tuple[Choice, ...], Field(min_length=2, max_length=50)]
    min_selections: Count = 0
    max_selections: Count | None = None

    def answer_problem(self, value: object) -> str | None:
        picked = _strings(value)
        if picked is None:
            return "give a list of choices"
        known = [c.id for c in self.choices]
        unknown = [p for p in picked if p not in known]
        if unknown:
            return f"unknown choice(s) {', '.join(unknown)}; choose from " + _or(known)
        if len(set(picked)) != len(picked):
            return "choose each option at most once"
        if len(picked) < self.min_selections:
            return f"choose at least {self.min_selections}"
        if self.max_selections is not None and len(picked) > self.max_selections:
            return f"choose at most {self.max_selections}"
        return None


class RagQuestion(QuestionBase):
    """A red / amber / green rating, each colour described."""

    type: Literal["rag"]
    item: Slug | None = None
    descriptors: RagDescriptors

    def answer_problem(self, value: object) -> str | None:
        return None if value in RAG else "choose red, amber or green"


class TextQuestion(QuestionBase):
    """Free text up to `max_length` characters."""

    type: Literal["text"]
    max_length: Annotated[int, Field(ge=1, le=TEXT_MAX_LENGTH, strict=True)] = 1000

    def answer_problem(self, value: object) -> str | None:
        if not isinstance(value, str):
            return "give the answer as text"
        if len(value) > self.max_length:
            return f"the answer is {len(value)} characters long; the limit is {self.max_length}"
        return None


class RankingQuestion(QuestionBase):
    """The template's items ordered into tiers, top first; `shape` is how many go in each tier.

    A "diamond 9" of nine items is `shape: [1, 2, 3, 2, 1]`; without a shape every tier holds
    one item (a plain ranking).
    """

    type: Literal["ranking"]
    items: Annotated[tuple[Slug, ...], Field(min_length=2, max_length=50)]
    shape: tuple[Annotated[int, Field(ge=1, strict=True)], ...] | None = None
    top_label: Label | None = None
    bottom_label: Label | None = None

    @property
    def tiers(self) -> tuple[int, ...]:
        """Places per tier, top first."""
        return self.shape if self.shape is not None else (1,) * len(self.items)

    def answer_problem(self, value: object) -> str | None:
        if not isinstance(value, list | tuple):
            return "give the ranking as a list of tiers, top first"
        tiers = [_strings(tier) for tier in value]
        if any(tier is None for tier in tiers):
            return "give each tier as a list of item ids"
        placed = [item for tier in tiers if tier is not None for item in tier]
        unknown = [p for p in placed if p not in self.items]
        if unknown:
            return f"unknown item(s) {', '.join(unknown)}"
        twice = sorted(p for p, n in Counter(placed).items() if n > 1)
        if twice:
            return f"{', '.join(twice)} placed more than once; place each item once"
        missing = [i for i in self.items if i not in placed]
        if missing:
            return f"place every item; {', '.join(missing)} missing"
        sizes = tuple(len(tier or ()) for tier in tiers)
        if sizes != self.tiers:
            return (
                f"the tiers hold {_dashed(sizes)} items; this ranking needs {_dashed(self.tiers)}"
            )
        return None


Question = Annotated[
    ScaleQuestion
    | SingleQuestion
    | MultipleQuestion
    | RagQuestion
    | TextQuestion
    | RankingQuestion,
    Field(discriminator="type"),
]


@dataclass(frozen=True)
class AnswerProblem:
    """Why one answer (or its comment) is not acceptable, in words for the person answering."""

    question_id: str
    message: str
    part: Literal["answer", "comment"] = "answer"

    def __str__(self) -> str:
        where = self.question_id + (" (comment)" if self.part == "comment" else "")
        return f"{where}: {self.message}"


class Template(Spec):
    """A survey's questions and what one response is about; rounds keep a snapshot of it."""

    id: Slug
    title: Label
    description: Annotated[str, Field(max_length=2000)] = ""
    scope: Literal["school", "partnership"]
    respondent_roles: Annotated[tuple[Role, ...], Field(min_length=1)]
    items: tuple[Item, ...] = ()
    questions: Annotated[tuple[Question, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Self:
        if isinstance(info.context, dict) and info.context.get(_LOCATED_RULES):
            return self
        problems = _rule_problems(enumerate(self.items), enumerate(self.questions))
        if problems:
            raise ValueError("; ".join(f"{render_loc(loc)}: {text}" for loc, text in problems))
        return self

    def question(self, question_id: str) -> Question:
        """The question with this id (KeyError if there is none)."""
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    def item_label(self, item_id: str) -> str:
        """The label of the item with this id (KeyError if there is none)."""
        for item in self.items:
            if item.id == item_id:
                return item.label
        raise KeyError(item_id)

    def answer_problems(
        self, answers: Mapping[str, object], comments: Mapping[str, object] | None = None
    ) -> list[AnswerProblem]:
        """Every reason a complete answer set is not acceptable, in question order.

        `answers` maps question ids to values (absent, None, blank text or an empty list mean
        "not answered"); `comments` maps question ids to comment text.
        """
        problems: list[AnswerProblem] = []
        by_id = {q.id: q for q in self.questions}
        for key in answers:
            if key not in by_id:
                problems.append(AnswerProblem(key, "there is no such question in this survey"))
        for question in self.questions:
            value = answers.get(question.id)
            if _blank(value):
                if question.required:
                    problems.append(AnswerProblem(question.id, "an answer is required"))
                continue
            message = question.answer_problem(value)
            if message is not None:
                problems.append(AnswerProblem(question.id, message))
        for key, text in (comments or {}).items():
            target = by_id.get(key)
            if target is None:
                message = "there is no such question in this survey"
            elif target.comment is None:
                message = "this question takes no comment"
            elif not isinstance(text, str):
                message = "give the comment as text"
            elif len(text) > target.comment.max_length:
                message = (
                    f"the comment is {len(text)} characters long; "
                    f"the limit is {target.comment.max_length}"
                )
            else:
                continue
            problems.append(AnswerProblem(key, message, "comment"))
        return problems

    def validate_answers(
        self, answers: Mapping[str, object], comments: Mapping[str, object] | None = None
    ) -> list[str]:
        """`answer_problems` as lines (`question_id: reason`); empty when the answers will do."""
        return [str(p) for p in self.answer_problems(answers, comments)]

    def snapshot(self) -> dict[str, Any]:
        """The template as plain JSON, as a round stores it."""
        return self.model_dump(mode="json")

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any]) -> Template:
        """The template a round was launched with (checked again, all rules)."""
        return cls.model_validate(data)


_QUESTION = TypeAdapter[Question](Question)
_ITEM = TypeAdapter(Item)


def load_template(path: Path) -> Template:
    """Read and check one template file; TemplateError lists every problem with its line."""
    data, lines, problems = read_marked_yaml(path, error=TemplateError)
    if not isinstance(data, dict):
        problems.append(((), "a template is a mapping with " + ", ".join(TOP_KEYS)))
        raise TemplateError(path.name, _problem_lines(lines, problems))
    template: Template | None = None
    try:
        template = Template.model_validate(data, context={_LOCATED_RULES: True})
    except ValidationError as exc:
        problems.extend(_shape_problems(exc))
    if template is not None:
        problems.extend(_rule_problems(enumerate(template.items), enumerate(template.questions)))
    else:
        # Still check the rules over the parts that have the right shape, so one pass through
        # the file reports everything it can.
        raw_items = _list(data.get("items"))
        raw_questions = _list(data.get("questions"))
        items = list(_valid_parts(raw_items, _ITEM))
        checked_refs = len(items) == len(raw_items)
        problems.extend(
            _rule_problems(items, _valid_parts(raw_questions, _QUESTION), check_refs=checked_refs)
        )
    if problems:
        raise TemplateError(path.name, _problem_lines(lines, problems))
    assert template is not None
    return template


def load_templates(directory: Path) -> dict[str, Template]:
    """Every `*.yaml` template in `directory` by id; TemplateError lists every file's problems."""
    templates: dict[str, Template] = {}
    found_in: dict[str, str] = {}
    problems: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            template = load_template(path)
        except TemplateError as exc:
            problems.extend(f"{path.name}: {problem}" for problem in exc.problems)
            continue
        if template.id in templates:
            problems.append(
                f"{path.name}: line 1 (id): template id {template.id!r} is already used by "
                f"{found_in[template.id]}"
            )
            continue
        templates[template.id] = template
        found_in[template.id] = path.name
    if problems:
        raise TemplateError(directory.name, problems)
    return templates


def shipped_templates() -> dict[str, Template]:
    """The templates that come with the bot, by id (read once)."""
    return dict(_shipped())


@functools.cache
def _shipped() -> Mapping[str, Template]:
    return load_templates(SHIPPED)


# --- the rules a template's parts must keep together ----------------------------------------


def _rule_problems(
    items: Iterable[tuple[int, Item]],
    questions: Iterable[tuple[int, Question]],
    *,
    check_refs: bool = True,
) -> list[tuple[Loc, str]]:
    """Duplicate ids, impossible scales and rankings, references to unknown items."""
    problems: list[tuple[Loc, str]] = []
    items = list(items)
    questions = list(questions)
    problems += _duplicates("item", [(("items", n, "id"), i.id) for n, i in items])
    problems += _duplicates("question", [(("questions", n, "id"), q.id) for n, q in questions])
    item_ids = [i.id for _, i in items]

    def unknown_item(loc: Loc, item_id: str) -> None:
        if check_refs and item_id not in item_ids:
            known = ", ".join(item_ids) if item_ids else "none: add an `items` list"
            problems.append((loc, f"unknown item {item_id!r}; the template's items are {known}"))

    for n, question in questions:
        at: Loc = ("questions", n)
        if isinstance(question, ScaleQuestion):
            problems += _scale_problems(at, question)
        if isinstance(question, ScaleQuestion | RagQuestion) and question.item is not None:
            unknown_item((*at, "item"), question.item)
        if isinstance(question, SingleQuestion | MultipleQuestion):
            problems += _duplicates(
                "choice",
                [
                    ((*at, "choices", c, "id"), choice.id)
                    for c, choice in enumerate(question.choices)
                ],
            )
        if isinstance(question, MultipleQuestion):
            problems += _selection_problems(at, question)
        if isinstance(question, RankingQuestion):
            for r, item_id in enumerate(question.items):
                unknown_item((*at, "items", r), item_id)
            problems += _duplicates(
                "ranked item", [((*at, "items", r), i) for r, i in enumerate(question.items)]
            )
            if question.shape is not None and sum(question.shape) != len(question.items):
                problems.append(
                    (
                        (*at, "shape"),
                        f"the shape's tiers hold {'+'.join(map(str, question.shape))} = "
                        f"{sum(question.shape)} places, but the ranking has "
                        f"{len(question.items)} items",
                    )
                )
    return problems


def _scale_problems(at: Loc, q: ScaleQuestion) -> list[tuple[Loc, str]]:
    if q.min >= q.max:
        return [((*at, "max"), f"a scale's max must be above its min (min {q.min}, max {q.max})")]
    points = len(q.points)
    if points > SCALE_MAX_POINTS:
        return [((*at, "max"), f"a scale has at most {SCALE_MAX_POINTS} points, not {points}")]
    problems: list[tuple[Loc, str]] = []
    for key, given in (("descriptors", q.descriptors), ("labels", q.labels)):
        if given is not None and len(given) != points:
            problems.append(
                (
                    (*at, key),
                    f"a {q.min}-{q.max} scale has {points} points, so it needs {points} "
                    f"{key}, not {len(given)}",
                )
            )
    return problems


def _selection_problems(at: Loc, q: MultipleQuestion) -> list[tuple[Loc, str]]:
    choices = len(q.choices)
    if q.max_selections is not None and q.min_selections > q.max_selections:
        return [
            (
                (*at, "min_selections"),
                f"min_selections ({q.min_selections}) is above max_selections ({q.max_selections})",
            )
        ]
    for key, bound in (("min_selections", q.min_selections), ("max_selections", q.max_selections)):
        if bound is not None and bound > choices:
            return [((*at, key), f"{key} ({bound}) is more than the {choices} choices")]
    return []


def _duplicates(kind: str, ids: Sequence[tuple[Loc, str]]) -> list[tuple[Loc, str]]:
    first: dict[str, Loc] = {}
    problems: list[tuple[Loc, str]] = []
    for loc, value in ids:
        if value in first:
            problems.append(
                (loc, f"duplicate {kind} id {value!r} (first at {render_loc(first[value])})")
            )
        else:
            first[value] = loc
    return problems


# --- reading the file ---------------------------------------------------------------------


def _valid_parts(raw: Sequence[object], adapter: TypeAdapter[T]) -> Iterable[tuple[int, T]]:
    for index, value in enumerate(raw):
        try:
            yield index, adapter.validate_python(value)
        except ValidationError:
            continue


def _shape_problems(exc: ValidationError) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
        kind = error["type"]
        if kind == "too_short" and _long_enough_before(error):
            continue  # some entries failed their own checks, which are reported already
        if kind == "union_tag_invalid":
            loc += ("type",)
            tag = (error.get("ctx") or {}).get("tag")
            message = f"unknown question type {tag!r}; use " + _or(QUESTION_TYPES)
        elif kind == "union_tag_not_found":
            message = "a question needs a `type`: " + _or(QUESTION_TYPES)
        else:
            if len(loc) > 2 and loc[0] == "questions" and isinstance(loc[1], int):
                loc = loc[:2] + loc[3:]  # the union's tag (the question type), not a key
            message = _message(kind, str(error["msg"]))
        problems.append((loc, message))
    return problems


def _long_enough_before(error: Any) -> bool:
    given = error.get("input")
    wanted = (error.get("ctx") or {}).get("min_length", 0)
    return isinstance(given, list | tuple) and len(given) >= wanted


def _message(kind: str, msg: str) -> str:
    if kind == "missing":
        return "is missing"
    if kind == "extra_forbidden":
        return "unknown key (check its spelling)"
    return msg.removeprefix("Value error, ")


def _problem_lines(lines: LineIndex, problems: list[tuple[Loc, str]]) -> list[str]:
    located = sorted((lines.line(loc), render_loc(loc), text) for loc, text in problems)
    return [f"line {n} ({where}): {text}" for n, where, text in located]


# --- small helpers --------------------------------------------------------------------------


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple) and not value


def _strings(value: object) -> list[str] | None:
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _or(words: Iterable[str]) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _dashed(sizes: Sequence[int]) -> str:
    return "-".join(map(str, sizes))
