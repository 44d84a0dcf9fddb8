"""A round's questions as a form, and the form's values back as answers the round stores.

Every question becomes one field with the question's id; an optional comment becomes a text
field `<question id>-comment` right after it (question ids are slugs, so no hyphen can clash).
Long templates go on several pages of a few questions each.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time
from decimal import Decimal
from typing import Any

from bot.forms import (
    TITLE_LIMIT,
    ChoiceField,
    Field,
    Form,
    FormValue,
    MultiChoiceField,
    Option,
    Rag,
    RagField,
    RankingField,
    ScaleField,
    SelectField,
    TextField,
    paginate,
)
from bot.services.healthcheck.templates import (
    MultipleQuestion,
    Question,
    RagQuestion,
    RankingQuestion,
    ScaleQuestion,
    SingleQuestion,
    Template,
    TextQuestion,
)

CALLBACK_ID = "slis.healthcheck.answer"
COMMENT_SUFFIX = "-comment"
# Questions (and their comment boxes) per page: a page reads in under a minute.
FIELDS_PER_PAGE = 6
RADIO_LIMIT = 10  # more choices than this go in a drop-down


def comment_id(question_id: str) -> str:
    """The form field of a question's comment."""
    return question_id[: 64 - len(COMMENT_SUFFIX)] + COMMENT_SUFFIX


def answer_form(template: Template, *, title: str, intro: str, metadata: str) -> Form:
    """The form a person fills in to answer a round of `template`."""
    fields: list[Field] = []
    for question in template.questions:
        fields.append(_field(template, question))
        if question.comment is not None:
            fields.append(
                TextField(
                    comment_id(question.id),
                    question.comment.label,
                    required=False,
                    multiline=True,
                    max_length=question.comment.max_length,
                )
            )
    pages = paginate(fields, title=title, intro=intro, max_fields=FIELDS_PER_PAGE)
    return Form(
        callback_id=CALLBACK_ID,
        title=_clip(template.title),
        pages=pages,
        submit_label="Send answers",
        close_label="Cancel",
        private_metadata=metadata,
    )


def _field(template: Template, q: Question) -> Field:
    match q:
        case ScaleQuestion():
            points = [
                f"{p} – {label}: {text}" if label else f"{p}: {text}"
                for p, label, text in zip(
                    q.points, q.labels or ("",) * len(q.points), q.descriptors, strict=True
                )
            ]
            return ScaleField(
                q.id,
                q.text,
                help=_help(q.help, *points),
                required=q.required,
                low=q.min,
                high=q.max,
                point_labels=tuple(q.labels or ()),
            )
        case SingleQuestion():
            options = tuple(Option(c.id, c.label) for c in q.choices)
            if len(options) <= RADIO_LIMIT:
                return ChoiceField(
                    q.id, q.text, help=q.help or None, required=q.required, options=options
                )
            return SelectField(
                q.id, q.text, help=q.help or None, required=q.required, options=options
            )
        case MultipleQuestion():
            return MultiChoiceField(
                q.id,
                q.text,
                help=q.help or None,
                required=q.required,
                options=tuple(Option(c.id, c.label) for c in q.choices),
                min_selected=q.min_selections,
                max_selected=q.max_selections,
            )
        case RagQuestion():
            d = q.descriptors
            return RagField(
                q.id,
                q.text,
                help=q.help or None,
                required=q.required,
                red=d.red,
                amber=d.amber,
                green=d.green,
            )
        case TextQuestion():
            return TextField(
                q.id,
                q.text,
                help=q.help or None,
                required=q.required,
                multiline=True,
                max_length=q.max_length,
            )
        case RankingQuestion():
            shape = q.tiers
            labels: tuple[str, ...] = ()
            if q.top_label or q.bottom_label:
                middle = ("",) * (len(shape) - 2)
                labels = (q.top_label or "", *middle, q.bottom_label or "")
            return RankingField(
                q.id,
                q.text,
                help=q.help or None,
                required=q.required,
                items=tuple(Option(i, template.item_label(i)) for i in q.items),
                shape=shape,
                tier_labels=labels,
            )
    raise TypeError(f"no field for question {q.id!r}")


def _help(*parts: str) -> str | None:
    text = "\n".join(p for p in parts if p)
    return text[:1990] if text else None


def _clip(text: str) -> str:
    return text if len(text) <= TITLE_LIMIT else text[: TITLE_LIMIT - 1] + "…"


# --- values <-> answers -----------------------------------------------------------------------


def answers_from_values(
    template: Template, values: Mapping[str, object]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's values as (answers, comments) by question id, in the stored shapes."""
    answers: dict[str, Any] = {}
    comments: dict[str, str] = {}
    for q in template.questions:
        value = values.get(q.id)
        if value is not None:
            answers[q.id] = _answer(q, value)
        comment = values.get(comment_id(q.id))
        if q.comment is not None and isinstance(comment, str) and comment.strip():
            comments[q.id] = comment.strip()
    return answers, comments


def _answer(q: Question, value: object) -> Any:
    if isinstance(q, RankingQuestion) and isinstance(value, Mapping):
        return [
            [item for item in q.items if value.get(item) == tier]
            for tier in range(1, len(q.tiers) + 1)
        ]
    if isinstance(value, Rag):
        return value.value
    return value


def values_from_answers(
    template: Template, answers: Mapping[str, Any], comments: Mapping[str, str]
) -> dict[str, FormValue]:
    """Stored answers as the form's values, to show a person what they sent and let them
    change it."""
    values: dict[str, FormValue] = {}
    for q in template.questions:
        value = answers.get(q.id)
        if value is not None:
            converted = _value(q, value)
            if converted is not None:
                values[q.id] = converted
        if q.id in comments:
            values[comment_id(q.id)] = comments[q.id]
    return values


def _value(q: Question, value: Any) -> FormValue | None:
    match q:
        case RankingQuestion():
            if not isinstance(value, list):
                return None
            return {
                str(item): tier
                for tier, items in enumerate(value, start=1)
                if isinstance(items, list)
                for item in items
            }
        case RagQuestion():
            return Rag(value) if value in set(Rag) else None
        case MultipleQuestion():
            return [str(v) for v in value] if isinstance(value, list) else None
        case ScaleQuestion():
            return value if isinstance(value, int) else None
    return str(value) if isinstance(value, str) else None


def values_to_json(values: Mapping[str, object]) -> dict[str, Any]:
    """Form values as JSON (for a draft): every kind a survey form has is JSON already, but
    for the enum, which becomes its text."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Rag):
            out[key] = value.value
        elif isinstance(value, Decimal | date | time):
            out[key] = str(value)
        else:
            out[key] = value
    return out


def values_from_json(form: Form, data: Mapping[str, Any]) -> dict[str, FormValue]:
    """A draft's JSON back as the form's typed values; keys the form does not have are dropped."""
    values: dict[str, FormValue] = {}
    fields = {f.id: f for f in form.fields()}
    for key, value in data.items():
        field = fields.get(key)
        if field is None or value is None:
            continue
        if isinstance(field, RagField):
            if value in set(Rag):
                values[key] = Rag(value)
        elif isinstance(field, RankingField):
            if isinstance(value, dict):
                values[key] = {str(k): int(v) for k, v in value.items()}
        elif isinstance(field, MultiChoiceField):
            if isinstance(value, list):
                values[key] = [str(v) for v in value]
        elif isinstance(value, str | int):
            values[key] = value
    return values
