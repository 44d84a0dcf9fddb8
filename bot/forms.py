"""Forms the bot asks people to fill in, independent of any platform's markup.

A `Form` has pages and a page has fields (the questions). A platform renderer shows one page at
a time (a Slack modal, a Teams Adaptive Card); its parser turns what comes back into
`FormValues`, and `validate` checks them by the same rules on every platform.

Typed values, one per answered field (an unanswered field has no key):

    TextField, ChoiceField, SelectField   str
    ScaleField                            int
    RagField                              Rag (a str: "red", "amber", "green")
    MultiChoiceField                      list[str], in the order of the options
    RankingField                          dict[item value, tier], tiers counted from 1
    DateField / TimeField                 datetime.date / datetime.time
    NumberField                           int, or Decimal when decimals are allowed
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TypeVar

# Limits every renderer can honour; Slack's are the tightest, so they set them.
TITLE_LIMIT = 24  # form title, submit and close labels (Slack modal: 24 characters)
CALLBACK_ID_LIMIT = 255
OPTION_VALUE_LIMIT = 150
METADATA_LIMIT = 2000  # the rest of Slack's 3,000 carries the form's callback id and page
INTRO_LIMIT = 2000
SCALE_POINT_LIMIT = 100
# Field ids (and ranking item values) name blocks, actions and stored answers on every
# platform, so they are kept to characters none of them escapes.
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")

PAGE_BLOCK_LIMIT = 100  # rows a page may take (Slack: 100 blocks in a modal)
# Rows a renderer may add to every page around its fields: title, position and notices,
# intro, and a Back button.
PAGE_FRAME_BLOCKS = 4

DIAMOND_NINE = (1, 2, 3, 2, 1)
TOP_TIER_LABEL = "greatest strength"
BOTTOM_TIER_LABEL = "most improvement needed"

REQUIRED = "Please answer this question."

FormValue = str | int | Decimal | date | time | list[str] | dict[str, int]
FormValues = Mapping[str, object]

_T = TypeVar("_T")


class Rag(StrEnum):
    """A red / amber / green rating."""

    RED = "red"
    AMBER = "amber"
    GREEN = "green"

    @property
    def label(self) -> str:
        return self.value.capitalize()


@dataclass(frozen=True)
class Option:
    """One answer a person can pick: the stored value, what they see, and optional small print."""

    value: str
    label: str
    description: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.value) <= OPTION_VALUE_LIMIT:
            raise ValueError(f"option value must be 1-{OPTION_VALUE_LIMIT} characters")
        if not self.label.strip():
            raise ValueError(f"option {self.value!r} needs a label")


@dataclass(frozen=True)
class _Question:
    """What every field has: an id (the key of its answer), a label, help and whether the
    form can be sent without it."""

    id: str
    label: str
    _: KW_ONLY
    help: str | None = None
    required: bool = True

    def __post_init__(self) -> None:
        if not ID_PATTERN.fullmatch(self.id):
            raise ValueError(f"field id {self.id!r} must be 1-64 letters, digits, _ or -")
        if not self.label.strip():
            raise ValueError(f"field {self.id!r} needs a label")


@dataclass(frozen=True, kw_only=True)
class TextField(_Question):
    """Free text, one line or several."""

    multiline: bool = False
    max_length: int | None = None
    placeholder: str | None = None
    initial: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_length is not None and self.max_length < 1:
            raise ValueError(f"field {self.id!r}: max_length must be at least 1")
        if self.initial is not None and self.max_length and len(self.initial) > self.max_length:
            raise ValueError(f"field {self.id!r}: initial text is longer than max_length")


@dataclass(frozen=True, kw_only=True)
class ScaleField(_Question):
    """A rating on whole-number points from `low` to `high`; `point_labels`, when given, name
    every point in order (e.g. 1 "Not yet in place" … 4 "Embedded")."""

    low: int = 1
    high: int = 4
    point_labels: tuple[str, ...] = ()
    initial: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 2 <= self.high - self.low + 1 <= SCALE_POINT_LIMIT:
            raise ValueError(f"field {self.id!r}: a scale has 2-{SCALE_POINT_LIMIT} points")
        if self.point_labels and len(self.point_labels) != len(self.points):
            raise ValueError(f"field {self.id!r}: give a label for every point or none")
        if self.initial is not None and self.initial not in self.points:
            raise ValueError(f"field {self.id!r}: initial point is off the scale")

    @property
    def points(self) -> range:
        return range(self.low, self.high + 1)

    def point_label(self, point: int) -> str:
        """The point's name, or "" when the scale's points are unnamed."""
        return self.point_labels[point - self.low] if self.point_labels else ""


def _check_options(field_id: str, options: Sequence[Option]) -> frozenset[str]:
    if not options:
        raise ValueError(f"field {field_id!r} needs at least one option")
    values = [o.value for o in options]
    if len(set(values)) != len(values):
        raise ValueError(f"field {field_id!r}: option values must be unique")
    return frozenset(values)


@dataclass(frozen=True, kw_only=True)
class ChoiceField(_Question):
    """Pick one of a few options, shown side by side where the platform can (radio buttons)."""

    options: tuple[Option, ...]
    initial: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        values = _check_options(self.id, self.options)
        if self.initial is not None and self.initial not in values:
            raise ValueError(f"field {self.id!r}: initial value is not an option")


@dataclass(frozen=True, kw_only=True)
class SelectField(_Question):
    """Pick one of many options from a drop-down list."""

    options: tuple[Option, ...]
    placeholder: str | None = None
    initial: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        values = _check_options(self.id, self.options)
        if self.initial is not None and self.initial not in values:
            raise ValueError(f"field {self.id!r}: initial value is not an option")


@dataclass(frozen=True, kw_only=True)
class MultiChoiceField(_Question):
    """Pick any number of options, between `min_selected` and `max_selected` (None: any)."""

    options: tuple[Option, ...]
    min_selected: int = 0
    max_selected: int | None = None
    initial: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        values = _check_options(self.id, self.options)
        top = len(self.options) if self.max_selected is None else self.max_selected
        if not 0 <= self.min_selected <= top <= len(self.options) or top < 1:
            raise ValueError(
                f"field {self.id!r}: need 0 <= min_selected <= max_selected <= "
                f"{len(self.options)} options, and max_selected >= 1"
            )
        if not set(self.initial) <= values or len(set(self.initial)) != len(self.initial):
            raise ValueError(f"field {self.id!r}: initial values must be distinct options")


@dataclass(frozen=True, kw_only=True)
class RagField(_Question):
    """A red / amber / green rating; each colour's descriptor says what it means here."""

    red: str = ""
    amber: str = ""
    green: str = ""
    initial: Rag | None = None

    def descriptor(self, rating: Rag) -> str:
        return {Rag.RED: self.red, Rag.AMBER: self.amber, Rag.GREEN: self.green}[rating]


@dataclass(frozen=True, kw_only=True)
class RankingField(_Question):
    """Place every item in a tier; `shape` says how many items each tier takes, tier 1 first.

    The default is the "diamond 9": 1, 2, 3, 2, 1 items from greatest strength to most
    improvement needed. `tier_labels`, when given, name every tier.
    """

    items: tuple[Option, ...]
    shape: tuple[int, ...] = DIAMOND_NINE
    tier_labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_options(self.id, self.items)
        for item in self.items:
            if not ID_PATTERN.fullmatch(item.value):
                raise ValueError(
                    f"field {self.id!r}: item value {item.value!r} must be 1-64 letters, "
                    "digits, _ or -"
                )
        if len(self.shape) < 2 or min(self.shape) < 1:
            raise ValueError(f"field {self.id!r}: a shape has two or more tiers, none empty")
        if sum(self.shape) != len(self.items):
            raise ValueError(
                f"field {self.id!r}: the shape places {sum(self.shape)} items but there are "
                f"{len(self.items)}"
            )
        if self.tier_labels and len(self.tier_labels) != len(self.shape):
            raise ValueError(f"field {self.id!r}: give a label for every tier or none")

    @property
    def tiers(self) -> range:
        return range(1, len(self.shape) + 1)

    def tier_label(self, tier: int) -> str:
        """The tier's name; unnamed tiers default to the diamond's ends, "" in between."""
        if self.tier_labels:
            return self.tier_labels[tier - 1]
        if tier == 1:
            return TOP_TIER_LABEL
        return BOTTOM_TIER_LABEL if tier == len(self.shape) else ""


@dataclass(frozen=True, kw_only=True)
class DateField(_Question):
    """A calendar date."""

    initial: date | None = None


@dataclass(frozen=True, kw_only=True)
class TimeField(_Question):
    """A time of day, to the minute."""

    initial: time | None = None


@dataclass(frozen=True, kw_only=True)
class NumberField(_Question):
    """A number between optional bounds; whole unless `decimal`."""

    min_value: int | Decimal | None = None
    max_value: int | Decimal | None = None
    decimal: bool = False
    placeholder: str | None = None
    initial: int | Decimal | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        given = [v for v in (self.min_value, self.max_value, self.initial) if v is not None]
        if not self.decimal and any(not _whole(v) for v in given):
            raise ValueError(f"field {self.id!r}: bounds and initial must be whole numbers")
        if any(isinstance(v, Decimal) and not v.is_finite() for v in given):
            raise ValueError(f"field {self.id!r}: bounds and initial must be finite")
        if (
            self.min_value is not None
            and self.max_value is not None
            and self.min_value > self.max_value
        ):
            raise ValueError(f"field {self.id!r}: min_value is above max_value")
        if self.initial is not None and _number_problem(self, self.initial):
            raise ValueError(f"field {self.id!r}: initial is outside the bounds")


Field = (
    TextField
    | ScaleField
    | ChoiceField
    | SelectField
    | MultiChoiceField
    | RagField
    | RankingField
    | DateField
    | TimeField
    | NumberField
)


def blocks_needed(field: Field) -> int:
    """Rows the field takes on a page: one, or for a ranking its heading and one per item."""
    if isinstance(field, RankingField):
        return 1 + len(field.items)
    return 1


@dataclass(frozen=True)
class Page:
    """One screen of a form: a title, an optional introduction and the fields, in order."""

    title: str
    intro: str | None
    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        _unique_ids(self.fields)
        if self.intro is not None and len(self.intro) > INTRO_LIMIT:
            raise ValueError(f"a page intro is at most {INTRO_LIMIT} characters")
        needed = PAGE_FRAME_BLOCKS + sum(blocks_needed(f) for f in self.fields)
        if needed > PAGE_BLOCK_LIMIT:
            raise ValueError(
                f"page {self.title!r} needs {needed} rows; a page takes {PAGE_BLOCK_LIMIT} "
                "(split the fields with paginate())"
            )


@dataclass(frozen=True, kw_only=True)
class Form:
    """A form: what it is (`callback_id`, routed back to the service that asked), its title
    (at most 24 characters, Slack's limit), its pages, and the labels of its buttons.

    `private_metadata` travels with the form and comes back with every submission (e.g. the
    survey round being answered); at most 2,000 characters. Field ids are unique across pages.
    """

    callback_id: str
    title: str
    pages: tuple[Page, ...]
    submit_label: str = "Submit"
    close_label: str = "Cancel"
    private_metadata: str = ""

    def __post_init__(self) -> None:
        if not 1 <= len(self.callback_id) <= CALLBACK_ID_LIMIT:
            raise ValueError(f"callback_id must be 1-{CALLBACK_ID_LIMIT} characters")
        for name in ("title", "submit_label", "close_label"):
            text = getattr(self, name)
            if not text.strip() or len(text) > TITLE_LIMIT:
                raise ValueError(f"form {name} must be 1-{TITLE_LIMIT} characters: {text!r}")
        if not self.pages:
            raise ValueError("a form needs at least one page")
        if len(self.private_metadata) > METADATA_LIMIT:
            raise ValueError(f"private_metadata is at most {METADATA_LIMIT} characters")
        _unique_ids(f for p in self.pages for f in p.fields)

    @property
    def page_count(self) -> int:
        return len(self.pages)

    def page(self, n: int) -> Page:
        """Page `n`, counted from 0."""
        if not 0 <= n < len(self.pages):
            raise ValueError(f"form {self.callback_id!r} has no page {n}")
        return self.pages[n]

    def is_last(self, n: int) -> bool:
        return n == len(self.pages) - 1

    def fields(self) -> tuple[Field, ...]:
        return tuple(f for p in self.pages for f in p.fields)

    def field_ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.fields())

    def field(self, field_id: str) -> Field:
        for f in self.fields():
            if f.id == field_id:
                return f
        raise KeyError(field_id)


def _unique_ids(fields: Iterable[Field]) -> None:
    seen: set[str] = set()
    for f in fields:
        if f.id in seen:
            raise ValueError(f"field id {f.id!r} is used twice")
        seen.add(f.id)


def paginate(
    fields: Sequence[Field],
    max_blocks: int = PAGE_BLOCK_LIMIT,
    *,
    title: str = "",
    intro: str | None = None,
    max_fields: int | None = None,
) -> tuple[Page, ...]:
    """The fields in order on as few pages as fit `max_blocks` rows each (and at most
    `max_fields` fields each, for forms that read better in short pages). A field is never
    split; the intro goes on the first page and later pages are titled "<title> (continued)".
    """
    budget = min(max_blocks, PAGE_BLOCK_LIMIT) - PAGE_FRAME_BLOCKS
    if budget < 1 or (max_fields is not None and max_fields < 1):
        raise ValueError("a page must have room for at least one field")
    groups: list[list[Field]] = [[]]
    used = 0
    for field in fields:
        cost = blocks_needed(field)
        if cost > budget:
            raise ValueError(f"field {field.id!r} needs {cost} rows; a page has room for {budget}")
        current = groups[-1]
        if current and (used + cost > budget or len(current) == max_fields):
            groups.append([])
            used = 0
        groups[-1].append(field)
        used += cost
    return tuple(
        Page(
            title=title if i == 0 or not title else f"{title} (continued)",
            intro=intro if i == 0 else None,
            fields=tuple(group),
        )
        for i, group in enumerate(groups)
    )


def initial_values(fields: Iterable[Field]) -> dict[str, FormValue]:
    """The answers the fields start with (their `initial`), for renderers to show."""
    values: dict[str, FormValue] = {}
    for field in fields:
        initial = getattr(field, "initial", None)
        if initial is not None and initial != ():
            values[field.id] = list(initial) if isinstance(initial, tuple) else initial
    return values


# --- validation -------------------------------------------------------------------------------


def answered(value: object) -> bool:
    """Whether a value counts as an answer: not missing, not blank text, not an empty choice."""
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple | dict):
        return bool(value)
    return True


def validate(page: Page, values: FormValues) -> dict[str, str]:
    """Problems with the answers to the page's fields, as {field id: message for the person}.

    Keys in `values` that are not fields of the page are ignored.
    """
    errors: dict[str, str] = {}
    for field in page.fields:
        value = values.get(field.id)
        if not answered(value):
            if field.required:
                errors[field.id] = REQUIRED
            continue
        problem = field_problem(field, value)
        if problem:
            errors[field.id] = problem
    return errors


def validate_form(form: Form, values: FormValues) -> dict[str, str]:
    """`validate` over every page: what must be fixed before the whole form is accepted."""
    return {k: v for page in form.pages for k, v in validate(page, values).items()}


def field_problem(field: Field, value: object) -> str | None:
    """What is wrong with an answer to one field (required-ness aside), or None."""
    match field:
        case TextField():
            return _text_problem(field, value)
        case ScaleField():
            ok = _is_int(value) and value in field.points
            return None if ok else f"Choose a point from {field.low} to {field.high}."
        case ChoiceField() | SelectField():
            ok = isinstance(value, str) and value in {o.value for o in field.options}
            return None if ok else "Choose one of the options."
        case MultiChoiceField():
            return _selection_problem(field, value)
        case RagField():
            return None if value in set(Rag) else "Choose red, amber or green."
        case RankingField():
            return _ranking_problem(field, value)
        case DateField():
            # A datetime is a date too, but not an answer to "which day?".
            ok = isinstance(value, date) and not isinstance(value, datetime)
            return None if ok else "Enter a date."
        case TimeField():
            return None if isinstance(value, time) else "Enter a time."
        case NumberField():
            return _number_problem(field, value)


def _text_problem(field: TextField, value: object) -> str | None:
    if not isinstance(value, str):
        return "Enter some text."
    if field.max_length is not None and len(value) > field.max_length:
        return f"Please keep this to {field.max_length} characters (it has {len(value)})."
    return None


def _selection_problem(field: MultiChoiceField, value: object) -> str | None:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        return "Choose from the options."
    if not set(value) <= {o.value for o in field.options}:
        return "Choose only from the options."
    if len(set(value)) != len(value):
        return "Choose each option once."
    if field.max_selected is not None and len(value) > field.max_selected:
        return f"Choose at most {field.max_selected} (you chose {len(value)})."
    if len(value) < field.min_selected:
        return f"Choose at least {field.min_selected} (you chose {len(value)})."
    return None


def _ranking_problem(field: RankingField, value: object) -> str | None:
    if not isinstance(value, Mapping):
        return "Place every item in a tier."
    items = [i.value for i in field.items]
    if not set(value) <= set(items) or not all(
        _is_int(t) and t in field.tiers for t in value.values()
    ):
        return f"Choose a tier from 1 to {len(field.shape)} for each item."
    missing = [i.label for i in field.items if i.value not in value]
    if missing:
        return f"Place every item in a tier; still to place: {', '.join(missing)}."
    counts = [sum(1 for t in value.values() if t == tier) for tier in field.tiers]
    wrong = [
        f"tier {tier} has {got}, needs {want}"
        for tier, got, want in zip(field.tiers, counts, field.shape, strict=True)
        if got != want
    ]
    if wrong:
        return "Each tier takes a set number of items: " + "; ".join(wrong) + "."
    return None


def _number_problem(field: NumberField, value: object) -> str | None:
    if not (_is_int(value) or isinstance(value, Decimal)) or (
        isinstance(value, Decimal) and not value.is_finite()
    ):
        return "Enter a number."
    assert isinstance(value, int | Decimal)
    if not field.decimal and not _whole(value):
        return "Enter a whole number."
    low, high = field.min_value, field.max_value
    if low is not None and high is not None and not low <= value <= high:
        return f"Enter a number from {low} to {high}."
    if low is not None and value < low:
        return f"Enter a number of at least {low}."
    if high is not None and value > high:
        return f"Enter a number of at most {high}."
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _whole(value: int | Decimal) -> bool:
    return _is_int(value) or (
        isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value()
    )


# --- reading what was typed: shared by every platform's parser -------------------------------


class AnswerProblem(ValueError):
    """An answer that cannot be read as its field's kind; its message is shown under it."""


def read_as(parse: Callable[[str], _T], text: str, message: str) -> _T:
    """`parse(text)`, or AnswerProblem(`message`) when it raises ValueError."""
    try:
        return parse(text)
    except ValueError:
        raise AnswerProblem(message) from None


def read_number(field: NumberField, text: str) -> int | Decimal:
    """A number field's typed text as its value: a Decimal where decimals are allowed, else an
    int; AnswerProblem in the core's words when it is not such a number."""
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise AnswerProblem("Enter a number.") from None
    if not number.is_finite():
        raise AnswerProblem("Enter a number.")
    if field.decimal:
        return number
    if number != number.to_integral_value():
        raise AnswerProblem("Enter a whole number.")
    return int(number)
