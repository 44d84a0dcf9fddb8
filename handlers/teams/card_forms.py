"""Forms as Adaptive Cards in the chat, and what their buttons send back as typed values.
Pure functions, no I/O.

A page of a form is one card; Next and Back are `Action.Execute` buttons (verbs `FORM_NEXT`,
`FORM_BACK`) whose data names the form, the page shown and the form's own metadata, and the
invoke's answer replaces the card in place with the next page. Teams sends every input's value
as a string, merged into the button's data under the input's id. Input ids are the field ids
behind a prefix that no data key has; a ranking has one input per item.

Choice values are sent comma-joined by a multi-select, so "%" and "," in option values are
percent-encoded in the card and decoded here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, TypeVar, assert_never

from bot.forms import (
    REQUIRED,
    AnswerProblem,
    ChoiceField,
    DateField,
    Field,
    Form,
    FormValue,
    FormValues,
    MultiChoiceField,
    NumberField,
    Option,
    Page,
    Rag,
    RagField,
    RankingField,
    ScaleField,
    SelectField,
    TextField,
    TimeField,
    initial_values,
    read_as,
    read_number,
    validate,
)
from bot.types import Heading, Paragraph, Reply
from handlers.teams.cards import (
    CARD_SIZE_LIMIT,
    action_sets,
    adaptive_card,
    card,
    card_size,
    context_block,
    execute_action,
    heading_block,
    markdown,
    plain_markdown,
    text_block,
)

FORM_NEXT = "slis.form.next"
FORM_BACK = "slis.form.back"
FORM_DATA_KEY = "slis_form"
INPUT_PREFIX = "answer."  # field ids never contain "."; data keys never start with this
NEXT_LABEL = "Next"
BACK_LABEL = "Back"
CHOOSE = "Choose one"
CHOOSE_TIER = "Choose a tier"
ERRORS_NOTICE = "Some answers need another look: see the notes below."
# Radio buttons or checkboxes while the options can be taken in at a glance; a drop-down above.
EXPANDED_CHOICES_LIMIT = 10
# Digits with an optional point and sign: what a decimal answer may look like.
DECIMAL_PATTERN = r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)\s*$"

JSON = dict[str, Any]
_T = TypeVar("_T")


@dataclass(frozen=True)
class FormMetadata:
    """What a form card's buttons carry: the form, the page shown (from 0), the form's own
    metadata, and whether it is the Back button (an Action.Submit fallback has no verb)."""

    callback_id: str
    page: int
    private_metadata: str
    back: bool = False


@dataclass(frozen=True)
class Submission:
    """A page sent back: which page, its typed answers, and problems as {field id: message}."""

    page: int
    values: dict[str, FormValue]
    errors: dict[str, str]


def input_id(field: Field) -> str:
    """The id of the field's input (for a ranking, its first item's)."""
    if isinstance(field, RankingField):
        return ranking_input_ids(field)[0]
    return INPUT_PREFIX + field.id


def ranking_input_ids(field: RankingField) -> list[str]:
    """The ids of a ranking's inputs, one per item in item order."""
    return [f"{INPUT_PREFIX}{field.id}.{item.value}" for item in field.items]


def encode_choice(value: str) -> str:
    """A choice's value as the card carries it: a multi-select sends its values joined by
    commas, so "%" and "," are percent-encoded."""
    return value.replace("%", "%25").replace(",", "%2C")


def _decode(value: str) -> str:
    return re.sub(r"%(25|2C)", lambda m: "%" if m.group(1) == "25" else ",", value)


# --- rendering --------------------------------------------------------------------------------


def form_card(
    form: Form,
    page: int,
    values: FormValues | None = None,
    errors: Mapping[str, str] | None = None,
) -> JSON:
    """Page `page` of the form as an Adaptive Card, showing `values` (else each field's initial
    value) as the answers and each problem in `errors` ({field id: message}) under its field.

    ValueError if the page has no room in a Teams card (28 KB).
    """
    shown = form.page(page)
    answers: dict[str, object] = {**initial_values(shown.fields), **(values or {})}
    on_page = {f.id for f in shown.fields}
    errors = {k: v for k, v in (errors or {}).items() if k in on_page}
    body = _frame_top(form, page, shown, bool(errors))
    for field in shown.fields:
        body.extend(_field_elements(field, answers.get(field.id), errors.get(field.id)))
    body.extend(action_sets(_buttons(form, page)))
    rendered = adaptive_card(body, fallback_text=form.title)
    if card_size(rendered) > CARD_SIZE_LIMIT:
        raise ValueError(
            f"page {page} of {form.callback_id!r} is {card_size(rendered)} bytes; a Teams card "
            f"takes {CARD_SIZE_LIMIT}"
        )
    return rendered


def _frame_top(form: Form, page: int, shown: Page, has_errors: bool) -> list[JSON]:
    body = [text_block(plain_markdown(form.title), weight="Bolder", size="Large")]
    if shown.title.strip():
        body.append(heading_block(shown.title))
    if form.page_count > 1:
        body.append(context_block(f"Page {page + 1} of {form.page_count}"))
    if has_errors:
        body.append(_problem(ERRORS_NOTICE))
    if shown.intro and shown.intro.strip():
        body.append(text_block(markdown(shown.intro)))
    return body


def _buttons(form: Form, page: int) -> list[JSON]:
    data = {
        FORM_DATA_KEY: {
            "callback_id": form.callback_id,
            "page": page,
            "metadata": form.private_metadata,
        }
    }
    buttons = []
    if page > 0:
        # Back sends no answers: with them, Teams would first insist on every required
        # answer of the page being left. `back` tells an Action.Submit fallback from Next.
        back = {FORM_DATA_KEY: {**data[FORM_DATA_KEY], "back": True}}
        buttons.append(execute_action(BACK_LABEL, FORM_BACK, back, associatedInputs="none"))
    label = form.submit_label if form.is_last(page) else NEXT_LABEL
    buttons.append(execute_action(label, FORM_NEXT, data, style="positive"))
    return buttons


def _problem(message: str) -> JSON:
    return text_block(plain_markdown(message), color="Attention", spacing="Small")


def _notes(notes: Sequence[str | None]) -> list[JSON]:
    return [context_block(plain_markdown(n)) for n in notes if n and n.strip()]


def _field_elements(field: Field, value: object, error: str | None) -> list[JSON]:
    if isinstance(field, RankingField):
        return _ranking_elements(field, value, error)
    element = {"id": input_id(field), "label": field.label, **_input(field, value)}
    if field.required:
        element["isRequired"] = True
        element.setdefault("errorMessage", REQUIRED)
    problem = [_problem(error)] if error else []
    return [element, *problem, *_notes([field.help])]


def _input(field: Field, value: object) -> JSON:
    """The field's input element, without its id and label."""
    match field:
        case TextField():
            return _text_input(field, value)
        case ScaleField():
            points = [(str(p), _titled(str(p), field.point_label(p))) for p in field.points]
            return _choice_set(points, _scalar(value), expanded=True)
        case RagField():
            ratings = [(r.value, _titled(r.label, field.descriptor(r))) for r in Rag]
            return _choice_set(ratings, _scalar(value), expanded=True)
        case ChoiceField():
            return _choice_set(_choices(field.options), _scalar(value), expanded=True)
        case SelectField():
            choices = _choices(field.options)
            return _choice_set(choices, _scalar(value), placeholder=field.placeholder or CHOOSE)
        case MultiChoiceField():
            picked = [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
            element = _choice_set(_choices(field.options), None, expanded=True)
            element["isMultiSelect"] = True
            if picked:
                element["value"] = ",".join(encode_choice(v) for v in picked)
            return element
        case DateField():
            element = {"type": "Input.Date"}
            if isinstance(value, datetime):
                value = value.date()
            if isinstance(value, date):
                element["value"] = value.isoformat()
            return element
        case TimeField():
            element = {"type": "Input.Time"}
            if isinstance(value, time):
                element["value"] = value.strftime("%H:%M")
            return element
        case NumberField():
            return _number_input(field, value)
        case RankingField():
            raise TypeError("a ranking is rendered as one input per item")
    assert_never(field)


def _text_input(field: TextField, value: object) -> JSON:
    element: JSON = {"type": "Input.Text"}
    if field.multiline:
        element["isMultiline"] = True
    if field.max_length is not None:
        element["maxLength"] = field.max_length
    if field.placeholder:
        element["placeholder"] = field.placeholder
    if isinstance(value, str) and value:
        element["value"] = value
    return element


def _number_input(field: NumberField, value: object) -> JSON:
    element: JSON
    if field.decimal:
        # A JSON number would round a Decimal through a float: decimals are typed as text.
        element = {"type": "Input.Text", "regex": DECIMAL_PATTERN}
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            element["value"] = format(value, "f")
    else:
        element = {"type": "Input.Number"}
        if field.min_value is not None:
            element["min"] = int(field.min_value)
        if field.max_value is not None:
            element["max"] = int(field.max_value)
        if isinstance(value, int) and not isinstance(value, bool):
            element["value"] = value
    if field.placeholder:
        element["placeholder"] = field.placeholder
    element["errorMessage"] = number_message(field)
    return element


def number_message(field: NumberField) -> str:
    """What the card says when a number is missing, malformed or out of bounds: the core's
    own words for it."""
    low, high = field.min_value, field.max_value
    if low is not None and high is not None:
        return f"Enter a number from {low} to {high}."
    if low is not None:
        return f"Enter a number of at least {low}."
    if high is not None:
        return f"Enter a number of at most {high}."
    return "Enter a number." if field.decimal or not field.required else REQUIRED


def _choice_set(
    choices: Sequence[tuple[str, str]],
    selected: str | None,
    *,
    expanded: bool = False,
    placeholder: str | None = None,
) -> JSON:
    element: JSON = {
        "type": "Input.ChoiceSet",
        "choices": [{"title": title, "value": encode_choice(value)} for value, title in choices],
        "wrap": True,
    }
    if expanded and len(choices) <= EXPANDED_CHOICES_LIMIT:
        element["style"] = "expanded"
    else:
        element["style"] = "compact"
        element["placeholder"] = placeholder or CHOOSE
    if selected is not None and selected in {value for value, _ in choices}:
        element["value"] = encode_choice(selected)
    return element


def _choices(options: Sequence[Option]) -> list[tuple[str, str]]:
    return [(o.value, _titled(o.label, o.description or "")) for o in options]


def _titled(name: str, descriptor: str) -> str:
    return f"{name} — {descriptor}" if descriptor.strip() else name


def _scalar(value: object) -> str | None:
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def _ranking_elements(field: RankingField, value: object, error: str | None) -> list[JSON]:
    tiers = [
        (str(t), _tier_name(field, t, n)) for t, n in zip(field.tiers, field.shape, strict=True)
    ]
    places = ", ".join(
        f"{n} in tier {t}" + (f" ({field.tier_label(t)})" if field.tier_label(t) else "")
        for t, n in zip(field.tiers, field.shape, strict=True)
    )
    elements = [text_block(plain_markdown(field.label), weight="Bolder")]
    elements.extend(_notes([field.help, f"Place {places}."]))
    if error:
        elements.append(_problem(error))
    ranked = value if isinstance(value, Mapping) else {}
    for item, item_id in zip(field.items, ranking_input_ids(field), strict=True):
        tier = ranked.get(item.value)
        element = {
            "id": item_id,
            "label": item.label,
            **_choice_set(tiers, _scalar(tier), placeholder=CHOOSE_TIER),
        }
        if field.required:
            element["isRequired"] = True
            element["errorMessage"] = REQUIRED
        elements.append(element)
        elements.extend(_notes([item.description]))
    return elements


def _tier_name(field: RankingField, tier: int, size: int) -> str:
    label = field.tier_label(tier)
    name = f"{tier} — {label}" if label else str(tier)
    return f"{name} ({size} item{'' if size == 1 else 's'})"


def result_card(title: str, reply: Reply) -> JSON:
    """The end of a form, shown in place of its last page: the title, then the reply."""
    blocks = reply.blocks or ((Paragraph(reply.text),) if reply.text else ())
    return card(replace(reply, blocks=(Heading(title), *blocks)))


# --- parsing ----------------------------------------------------------------------------------


def form_metadata(data: object) -> FormMetadata | None:
    """The form, page and form metadata a form card's button sent; None for anything else.
    Never raises: the data is the sender's to choose."""
    if not isinstance(data, dict):
        return None
    ours = dict.get(data, FORM_DATA_KEY)
    if not isinstance(ours, dict):
        return None
    callback_id = dict.get(ours, "callback_id")
    page = dict.get(ours, "page")
    metadata = dict.get(ours, "metadata")
    if not isinstance(callback_id, str) or not callback_id or not isinstance(metadata, str):
        return None
    if not isinstance(page, int) or isinstance(page, bool) or page < 0:
        return None
    return FormMetadata(str(callback_id), int(page), str(metadata), dict.get(ours, "back") is True)


def parse_form(form: Form, data: Mapping[str, object]) -> Submission:
    """The answers on the page a form card sent (`data`: the button's data with the inputs
    merged in), converted to typed values and checked with the form's rules, with the same
    messages as on every platform.

    Unanswered fields have no key in `values`. ValueError if the data is not a page of `form`
    or an input's value is not text.
    """
    metadata = form_metadata(data)
    if metadata is None:
        raise ValueError(f"the data is not from a page of {form.callback_id!r}")
    if metadata.callback_id != form.callback_id:
        raise ValueError(f"the data is from a page of {metadata.callback_id!r}")
    shown = form.page(metadata.page)  # raises for a page the form does not have
    values: dict[str, FormValue] = {}
    errors: dict[str, str] = {}
    for field in shown.fields:
        try:
            value = _read(field, data)
        except AnswerProblem as problem:
            errors[field.id] = str(problem)
            continue
        if value is not None:
            values[field.id] = value
    for field_id, message in validate(shown, values).items():
        errors.setdefault(field_id, message)
    return Submission(metadata.page, values, errors)


def _text(data: Mapping[str, object], key: str) -> str | None:
    """An input's value; None when it was left empty. ValueError if it is not text."""
    raw = data.get(key)
    if raw is None:
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = str(raw)  # a client may send a number input's value as a number
    if not isinstance(raw, str):
        raise ValueError(f"the value of {key!r} is not text")
    return raw if raw.strip() else None


def _read(field: Field, data: Mapping[str, object]) -> FormValue | None:
    """The field's typed value from the data; None when unanswered."""
    if isinstance(field, RankingField):
        return _read_ranking(field, data)
    text = _text(data, input_id(field))
    if text is None:
        return None
    match field:
        case TextField():
            return text.strip()
        case ChoiceField() | SelectField():
            return _decode(text)
        case ScaleField():
            return read_as(int, _decode(text), "Choose a point on the scale.")
        case RagField():
            rating = _decode(text)
            if rating not in set(Rag):
                raise AnswerProblem("Choose red, amber or green.")
            return Rag(rating)
        case MultiChoiceField():
            chosen = [_decode(v) for v in text.split(",") if v.strip()]
            # In the options' order, whatever order they were ticked in; unknown values go
            # last, for validation to name.
            order = {o.value: i for i, o in enumerate(field.options)}
            return sorted(chosen, key=lambda v: order.get(v, len(order))) or None
        case DateField():
            return read_as(date.fromisoformat, text.strip(), "Enter a date.")
        case TimeField():
            return read_as(time.fromisoformat, text.strip(), "Enter a time.")
        case NumberField():
            return read_number(field, text)
    assert_never(field)


def _read_ranking(field: RankingField, data: Mapping[str, object]) -> dict[str, int] | None:
    ranked: dict[str, int] = {}
    for item, item_id in zip(field.items, ranking_input_ids(field), strict=True):
        tier = _text(data, item_id)
        if tier is not None:
            ranked[item.value] = read_as(int, _decode(tier), "Choose a tier for each item.")
    return ranked or None
