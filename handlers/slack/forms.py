"""Forms as Slack modals, and modal submissions back as typed values. Pure functions, no I/O.

Every field has one `input` block whose block id and action id are the field's id, so errors
keyed by field id are Slack's `response_action: errors` as they stand. A ranking takes a
section (its label) and one input block per item: the first item's block id is the field id,
the others `<field id>.<item value>`.

A multi-page form is shown a page at a time: "Next" until the last page, a Back button
(action `BACK_ACTION`, value = the page to go back to) after the first. Slack keeps only the
page on screen, so the answers to earlier pages must be kept by the caller and passed back in
as `values` when a page is shown again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar, assert_never

from bot.forms import (
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
    field_problem,
    initial_values,
    read_as,
    read_number,
    validate,
)
from handlers.slack.render import ELLIPSIS, HEADER_LIMIT, SECTION_TEXT_LIMIT, escape, split_text

# Slack's documented limits (Block Kit reference: views, input block, elements, option object).
VIEW_TITLE_LIMIT = 24
VIEW_BUTTON_LIMIT = 24
VIEW_BLOCK_LIMIT = 100
PRIVATE_METADATA_LIMIT = 3000
LABEL_LIMIT = 2000
HINT_LIMIT = 2000
PLACEHOLDER_LIMIT = 150
OPTION_TEXT_LIMIT = 75
OPTION_DESCRIPTION_LIMIT = 75
OPTION_VALUE_LIMIT = 150
GROUP_LABEL_LIMIT = 75
TEXT_INPUT_LIMIT = 3000
BUTTONS_LIMIT = 10  # options in a radio button or checkbox group
SELECT_OPTIONS_LIMIT = 100  # options in a select, or in one of its option groups
OPTION_GROUPS_LIMIT = 100
# A scale reads best as radio buttons while it is short enough to take in at a glance.
SCALE_BUTTONS_LIMIT = 5

BACK_ACTION = "slis.form.back"
NEXT_LABEL = "Next"
BACK_LABEL = "Back"
CHOOSE = "Choose one"
CHOOSE_TIER = "Choose a tier"
ERRORS_NOTICE = "Some answers need another look: see the notes below."

JSON = dict[str, Any]
_T = TypeVar("_T")


class FormMetadata(NamedTuple):
    """What a rendered modal carries in `private_metadata`: the form, the page shown (from 0)
    and the form's own metadata."""

    callback_id: str
    page: int
    private_metadata: str


class Submission(NamedTuple):
    """A parsed page: which page, its typed answers, and problems as {field id (= block id):
    message}, ready for `errors_response`."""

    page: int
    values: dict[str, FormValue]
    errors: dict[str, str]


# --- rendering --------------------------------------------------------------------------------


def modal(
    form: Form,
    page: int = 0,
    values: FormValues | None = None,
    errors: Mapping[str, str] | None = None,
) -> JSON:
    """Page `page` of the form as a Slack modal view (`views.open`, `views.update`, or a
    `response_action`), showing `values` (else each field's initial value) as the answers.

    `errors` ({field id: message}) are shown in the fields' hints, for a page shown again
    outside a submission (Back, or a check made after the submission was acknowledged).
    """
    shown = form.page(page)
    answers: dict[str, object] = {**initial_values(shown.fields), **(values or {})}
    errors = {k: v for k, v in (errors or {}).items() if k in {f.id for f in shown.fields}}
    blocks = [*_frame_top(form, page, shown, bool(errors))]
    for field in shown.fields:
        blocks.extend(_field_blocks(field, answers.get(field.id), errors.get(field.id)))
    if page > 0:
        blocks.append(_back_button(page - 1))
    if len(blocks) > VIEW_BLOCK_LIMIT:
        raise ValueError(
            f"page {page} of {form.callback_id!r} needs {len(blocks)} blocks; Slack shows "
            f"{VIEW_BLOCK_LIMIT}"
        )
    submit = form.submit_label if form.is_last(page) else NEXT_LABEL
    return {
        "type": "modal",
        "callback_id": form.callback_id,
        "title": _plain(_clip(form.title, VIEW_TITLE_LIMIT)),
        "submit": _plain(_clip(submit, VIEW_BUTTON_LIMIT)),
        "close": _plain(_clip(form.close_label, VIEW_BUTTON_LIMIT)),
        "private_metadata": _metadata(form, page),
        "blocks": blocks,
    }


def _metadata(form: Form, page: int) -> str:
    text = json.dumps(
        {"form": form.callback_id, "page": page, "meta": form.private_metadata},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    if len(text) > PRIVATE_METADATA_LIMIT:
        raise ValueError(
            f"{form.callback_id!r}: private_metadata is {len(text)} characters in JSON; Slack "
            f"takes {PRIVATE_METADATA_LIMIT}"
        )
    return text


def _frame_top(form: Form, page: int, shown: Page, has_errors: bool) -> list[JSON]:
    blocks: list[JSON] = []
    if shown.title.strip():
        title = " ".join(shown.title.split())
        blocks.append({"type": "header", "text": _plain(_clip(title, HEADER_LIMIT))})
    notes = []
    if form.page_count > 1:
        notes.append(f"Page {page + 1} of {form.page_count}")
    if has_errors:
        notes.append(ERRORS_NOTICE)
    if notes:
        blocks.append({"type": "context", "elements": [_mrkdwn(n) for n in notes]})
    if shown.intro and shown.intro.strip():
        blocks.append(_section(shown.intro))
    return blocks


def _back_button(to_page: int) -> JSON:
    return {
        "type": "actions",
        "block_id": BACK_ACTION,
        "elements": [
            {
                "type": "button",
                "action_id": BACK_ACTION,
                "text": _plain(BACK_LABEL),
                "value": str(to_page),
            }
        ],
    }


def _field_blocks(field: Field, value: object, error: str | None) -> list[JSON]:
    if isinstance(field, RankingField):
        return _ranking_blocks(field, value, error)
    element, descriptors = _element(field, value)
    hints = [error, field.help, *descriptors]
    return [_input(field.id, field.label, field.required, element, hints)]


def _element(field: Field, value: object) -> tuple[JSON, list[str]]:
    """The field's input element, and any descriptors its options could not show whole."""
    match field:
        case TextField():
            return _text_input(field, value), []
        case ScaleField():
            points = {p: _described(str(p), field.point_label(p)) for p in field.points}
            options = [_option(str(p), text) for p, (text, _) in points.items()]
            buttons = len(options) <= SCALE_BUTTONS_LIMIT
            element = _single_choice(field.id, options, _str(value), buttons=buttons)
            return element, [full for _, full in points.values() if full]
        case RagField():
            ratings = [(r, *_described(r.label, field.descriptor(r))) for r in Rag]
            options = [_option(r.value, text) for r, text, _ in ratings]
            element = _single_choice(field.id, options, _str(value), buttons=True)
            return element, [full for _, _, full in ratings if full]
        case ChoiceField():
            options = _options(field.options)
            return _single_choice(field.id, options, _str(value), buttons=True), []
        case SelectField():
            options = _options(field.options)
            element = _single_choice(
                field.id, options, _str(value), buttons=False, placeholder=field.placeholder
            )
            return element, []
        case MultiChoiceField():
            return _multi_choice(field, value), []
        case DateField():
            element = {"type": "datepicker", "action_id": field.id}
            if isinstance(value, datetime):
                value = value.date()
            if isinstance(value, date):
                element["initial_date"] = value.isoformat()
            return element, []
        case TimeField():
            element = {"type": "timepicker", "action_id": field.id}
            if isinstance(value, time):
                element["initial_time"] = value.strftime("%H:%M")
            return element, []
        case NumberField():
            return _number_input(field, value), []
        case RankingField():
            raise TypeError("a ranking is rendered as several blocks")
    assert_never(field)


def _input(
    block_id: str, label: str, required: bool, element: JSON, hints: Sequence[str | None]
) -> JSON:
    block: JSON = {
        "type": "input",
        "block_id": block_id,
        "label": _plain(_clip(label, LABEL_LIMIT)),
        "optional": not required,
        "element": element,
    }
    hint = "\n".join(h for h in hints if h and h.strip())
    if hint:
        block["hint"] = _plain(_clip(hint, HINT_LIMIT))
    return block


def _text_input(field: TextField, value: object) -> JSON:
    element: JSON = {"type": "plain_text_input", "action_id": field.id}
    if field.multiline:
        element["multiline"] = True
    limit = min(field.max_length or TEXT_INPUT_LIMIT, TEXT_INPUT_LIMIT)
    if field.max_length is not None:
        element["max_length"] = limit
    if field.placeholder:
        element["placeholder"] = _plain(_clip(field.placeholder, PLACEHOLDER_LIMIT))
    if isinstance(value, str) and value:
        element["initial_value"] = value[:limit]
    return element


def _number_input(field: NumberField, value: object) -> JSON:
    element: JSON = {
        "type": "number_input",
        "action_id": field.id,
        "is_decimal_allowed": field.decimal,
    }
    if field.min_value is not None:
        element["min_value"] = _number_text(field.min_value)
    if field.max_value is not None:
        element["max_value"] = _number_text(field.max_value)
    if field.placeholder:
        element["placeholder"] = _plain(_clip(field.placeholder, PLACEHOLDER_LIMIT))
    # Slack refuses a view whose number is out of bounds or not whole where it must be.
    if isinstance(value, int | Decimal) and field_problem(field, value) is None:
        element["initial_value"] = _number_text(value)
    return element


def _number_text(value: int | Decimal) -> str:
    # Slack reads plain digits; "1E+2" would not do.
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _single_choice(
    action_id: str,
    options: list[JSON],
    selected: str | None,
    *,
    buttons: bool,
    placeholder: str | None = None,
) -> JSON:
    element: JSON
    if buttons and len(options) <= BUTTONS_LIMIT:
        element = {"type": "radio_buttons", "action_id": action_id, "options": options}
    else:
        options = _menu(options)
        element = {
            "type": "static_select",
            "action_id": action_id,
            "placeholder": _plain(_clip(placeholder or CHOOSE, PLACEHOLDER_LIMIT)),
            **_select_options(options),
        }
    chosen = [o for o in options if o["value"] == selected]
    if chosen:
        # Slack accepts an initial option only if it is identical to one of the options.
        element["initial_option"] = chosen[0]
    return element


def _multi_choice(field: MultiChoiceField, value: object) -> JSON:
    options = _options(field.options)
    element: JSON
    if len(options) <= BUTTONS_LIMIT:
        element = {"type": "checkboxes", "action_id": field.id, "options": options}
    else:
        options = _menu(options)
        element = {
            "type": "multi_static_select",
            "action_id": field.id,
            "placeholder": _plain(
                f"Choose up to {field.max_selected}" if field.max_selected else "Choose any"
            ),
            **_select_options(options),
        }
        if field.max_selected is not None:
            element["max_selected_items"] = field.max_selected
    picked = {v for v in value if isinstance(v, str)} if isinstance(value, list | tuple) else set()
    chosen = [o for o in options if o["value"] in picked]
    if chosen:
        element["initial_options"] = chosen
    return element


def _menu(options: list[JSON]) -> list[JSON]:
    """Options for a select menu, which shows no descriptions (only buttons and checkboxes do)."""
    return [{k: v for k, v in o.items() if k != "description"} for o in options]


def _select_options(options: list[JSON]) -> JSON:
    """`options`, or `option_groups` of 100 when there are more than a select may list."""
    if len(options) <= SELECT_OPTIONS_LIMIT:
        return {"options": options}
    groups = [
        options[i : i + SELECT_OPTIONS_LIMIT] for i in range(0, len(options), SELECT_OPTIONS_LIMIT)
    ]
    if len(groups) > OPTION_GROUPS_LIMIT:
        raise ValueError(
            f"{len(options)} options; a Slack select lists at most "
            f"{SELECT_OPTIONS_LIMIT * OPTION_GROUPS_LIMIT}"
        )
    return {
        "option_groups": [
            {
                "label": _plain(
                    _clip(f"{g[0]['text']['text']} – {g[-1]['text']['text']}", GROUP_LABEL_LIMIT)
                ),
                "options": g,
            }
            for g in groups
        ]
    }


def _ranking_blocks(field: RankingField, value: object, error: str | None) -> list[JSON]:
    options = [
        _option(str(t), f"{_tier_name(field, t)} ({n} item{'' if n == 1 else 's'})")
        for t, n in zip(field.tiers, field.shape, strict=True)
    ]
    places = ", ".join(
        f"{n} in tier {t}" + (f" ({field.tier_label(t)})" if field.tier_label(t) else "")
        for t, n in zip(field.tiers, field.shape, strict=True)
    )
    heading = f"*{escape(field.label)}*"
    if field.help:
        heading += f"\n{escape(field.help)}"
    heading += f"\n{escape(f'Place {places}.')}"
    ranked = value if isinstance(value, Mapping) else {}
    blocks = [_section_escaped(heading)]
    for item, block_id in zip(field.items, ranking_block_ids(field), strict=True):
        tier = ranked.get(item.value)
        element = _single_choice(
            block_id,
            options,
            str(tier) if isinstance(tier, int) else None,
            buttons=False,
            placeholder=CHOOSE_TIER,
        )
        hints = [error if block_id == field.id else None, item.description]
        blocks.append(_input(block_id, item.label, field.required, element, hints))
    return blocks


def _tier_name(field: RankingField, tier: int) -> str:
    label = field.tier_label(tier)
    return f"{tier} — {label}" if label else str(tier)


def ranking_block_ids(field: RankingField) -> list[str]:
    """The input block (and action) ids of a ranking's items, in item order."""
    return [field.id] + [f"{field.id}.{item.value}" for item in field.items[1:]]


def _described(name: str, descriptor: str) -> tuple[str, str | None]:
    """Option text "name — descriptor", and the descriptor again when it had to be clipped
    (so the hint can carry it whole)."""
    if not descriptor.strip():
        return name, None
    text = f"{name} — {descriptor}"
    if len(text) <= OPTION_TEXT_LIMIT:
        return text, None
    return _clip(text, OPTION_TEXT_LIMIT), text


def _options(options: Sequence[Option]) -> list[JSON]:
    return [_option(o.value, o.label, o.description) for o in options]


def _option(value: str, text: str, description: str | None = None) -> JSON:
    if len(value) > OPTION_VALUE_LIMIT:
        raise ValueError(f"option value longer than {OPTION_VALUE_LIMIT} characters")
    option: JSON = {"text": _plain(_clip(text, OPTION_TEXT_LIMIT)), "value": value}
    if description and description.strip():
        option["description"] = _plain(_clip(description, OPTION_DESCRIPTION_LIMIT))
    return option


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def _plain(text: str) -> JSON:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> JSON:
    return {"type": "mrkdwn", "text": escape(text)}


def _section(text: str) -> JSON:
    return _section_escaped(escape(text))


def _section_escaped(text: str) -> JSON:
    """One section, clipped to Slack's limit without cutting an escaped entity."""
    pieces = split_text(text, SECTION_TEXT_LIMIT - 1)
    shown = pieces[0] + (ELLIPSIS if len(pieces) > 1 else "")
    return {"type": "section", "text": {"type": "mrkdwn", "text": shown}}


def _str(value: object) -> str | None:
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


# --- responses to view_submission ------------------------------------------------------------


def errors_response(errors: Mapping[str, str]) -> JSON:
    """Keep the modal open and show each message under its input block ({block id: message};
    the blocks must be on the page being submitted)."""
    return {"response_action": "errors", "errors": dict(errors)}


def update_response(view: JSON) -> JSON:
    """Replace the submitted modal with `view` (the next page, or a summary)."""
    return {"response_action": "update", "view": view}


def push_response(view: JSON) -> JSON:
    """Put `view` on top of the submitted modal; Slack keeps at most three in a stack."""
    return {"response_action": "push", "view": view}


def clear_response() -> JSON:
    """Close the modal and any it was pushed over."""
    return {"response_action": "clear"}


# --- parsing ----------------------------------------------------------------------------------


def view_metadata(view: Mapping[str, Any]) -> FormMetadata | None:
    """The form, page and form metadata a modal from `modal()` carries; None for any other."""
    try:
        data = json.loads(view.get("private_metadata") or "")
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    form, page, meta = data.get("form"), data.get("page"), data.get("meta")
    if not isinstance(form, str) or not isinstance(meta, str):
        return None
    if not isinstance(page, int) or isinstance(page, bool) or page < 0:
        return None
    return FormMetadata(form, page, meta)


def parse_submission(form: Form, view: Mapping[str, Any]) -> Submission:
    """The answers on the submitted page (`view` as in a `view_submission` payload's "view"),
    converted to typed values and checked with the form's rules.

    Unanswered fields have no key in `values`. ValueError if the view is not a page of `form`.
    """
    page = _submitted_page(form, view)
    state = (view.get("state") or {}).get("values") or {}
    values: dict[str, FormValue] = {}
    errors: dict[str, str] = {}
    shown = form.page(page)
    for field in shown.fields:
        try:
            value = _read(field, state)
        except ValueError as exc:
            errors[field.id] = str(exc)
            continue
        if value is not None:
            values[field.id] = value
    for field_id, message in validate(shown, values).items():
        errors.setdefault(field_id, message)
    return Submission(page, values, errors)


def _submitted_page(form: Form, view: Mapping[str, Any]) -> int:
    callback_id = view.get("callback_id")
    if callback_id is not None and callback_id != form.callback_id:
        raise ValueError(f"a view of {callback_id!r} is not the form {form.callback_id!r}")
    metadata = view_metadata(view)
    if metadata is None:
        if form.page_count == 1:
            return 0
        raise ValueError(f"the view does not say which page of {form.callback_id!r} it is")
    if metadata.callback_id != form.callback_id:
        raise ValueError(f"the view is a page of {metadata.callback_id!r}")
    form.page(metadata.page)  # raises for a page the form does not have
    return metadata.page


def _action(state: Mapping[str, Any], block_id: str) -> Mapping[str, Any]:
    """The state of the block's element; {} when Slack sent none."""
    block = state.get(block_id)
    if not isinstance(block, Mapping):
        return {}
    action = block.get(block_id)
    if action is None and len(block) == 1:
        # A view built elsewhere may name its action differently; a block has one element.
        action = next(iter(block.values()))
    return action if isinstance(action, Mapping) else {}


def _selected(action: Mapping[str, Any]) -> str | None:
    option = action.get("selected_option")
    value = option.get("value") if isinstance(option, Mapping) else None
    return value if isinstance(value, str) else None


def _read(field: Field, state: Mapping[str, Any]) -> FormValue | None:
    """The field's typed value from the view state; None when unanswered."""
    if isinstance(field, RankingField):
        return _read_ranking(field, state)
    action = _action(state, field.id)
    match field:
        case TextField():
            text = action.get("value")
            return text.strip() or None if isinstance(text, str) else None
        case ChoiceField() | SelectField():
            return _selected(action)
        case ScaleField():
            point = _selected(action)
            return None if point is None else read_as(int, point, "Choose a point on the scale.")
        case RagField():
            rating = _selected(action)
            if rating is None:
                return None
            if rating not in set(Rag):
                raise ValueError("Choose red, amber or green.")
            return Rag(rating)
        case MultiChoiceField():
            picked = action.get("selected_options") or []
            chosen = [o.get("value") for o in picked if isinstance(o, Mapping)]
            # In the options' order, whatever order they were ticked in; unknown values go
            # last, for validation to name.
            order = {o.value: i for i, o in enumerate(field.options)}
            values = [v for v in chosen if isinstance(v, str)]
            return sorted(values, key=lambda v: order.get(v, len(order))) or None
        case DateField():
            day = action.get("selected_date")
            return None if not day else read_as(date.fromisoformat, str(day), "Enter a date.")
        case TimeField():
            at = action.get("selected_time")
            return None if not at else read_as(time.fromisoformat, str(at), "Enter a time.")
        case NumberField():
            number = action.get("value")
            return None if not number else read_number(field, str(number))


def _read_ranking(field: RankingField, state: Mapping[str, Any]) -> dict[str, int] | None:
    ranked: dict[str, int] = {}
    for item, block_id in zip(field.items, ranking_block_ids(field), strict=True):
        tier = _selected(_action(state, block_id))
        if tier is not None:
            ranked[item.value] = read_as(int, tier, "Choose a tier for each item.")
    return ranked or None
