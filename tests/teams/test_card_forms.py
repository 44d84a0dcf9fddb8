"""Forms as Adaptive Cards: every field kind's input, the page's frame and buttons, and what the
buttons send parsed back to the same typed values, with the same messages as Slack's parser."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, time
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.forms import (
    REQUIRED,
    ChoiceField,
    DateField,
    Field,
    Form,
    FormValue,
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
)
from bot.types import Actions, Button, Paragraph, Reply
from handlers.slack import forms as slack_forms
from handlers.teams.card_forms import (
    DECIMAL_PATTERN,
    FORM_BACK,
    FORM_NEXT,
    FormMetadata,
    Submission,
    form_card,
    form_metadata,
    input_id,
    number_message,
    parse_form,
    ranking_input_ids,
    result_card,
)
from handlers.teams.cards import CARD_SIZE_LIMIT, card_size
from tests.teams.test_cards import JSON_VALUES, check_card

JSON = dict[str, Any]
NINE = tuple(Option(f"c{i}", f"Condition {i}") for i in range(1, 10))
ALLIANCES = tuple(Option(f"a{i}", f"Alliance {i}") for i in range(1, 31))

SUMMARY = TextField(
    "summary",
    "Summary of need",
    multiline=True,
    max_length=500,
    placeholder="What would help?",
)
MATURITY = ScaleField(
    "maturity",
    "How mature is the partnership?",
    point_labels=("Not yet in place", "Emerging", "Established", "Embedded"),
    help="Think about the last two terms.",
)
PHASE = ChoiceField(
    "phase",
    "Phase",
    options=(Option("primary", "Primary"), Option("secondary", "Secondary", "Years 7 to 11")),
)
ALLIANCE = SelectField(
    "alliance", "Teaching School Alliance", options=ALLIANCES, placeholder="Pick one"
)
AREAS = MultiChoiceField(
    "areas",
    "Areas of support",
    options=(
        Option("maths", "Maths"),
        Option("send,inclusion", "SEND, inclusion"),
        Option("100%", "Full cover"),
    ),
    max_selected=2,
)
HEALTH = RagField("health", "Overall health", red="Urgent", amber="Some concerns", green="On track")
CONDITIONS = RankingField("conditions", "Rank the nine conditions", items=NINE)
DAYS = NumberField("days", "Days of support", min_value=1, max_value=20)
ALL_KINDS: tuple[Field, ...] = (
    SUMMARY,
    MATURITY,
    PHASE,
    ALLIANCE,
    AREAS,
    HEALTH,
    CONDITIONS,
    DateField("start", "Start date"),
    TimeField("at", "Start time"),
    DAYS,
    NumberField("rate", "Daily rate (£)", decimal=True, min_value=Decimal("0"), required=False),
)
RANKED = {"c1": 1, "c2": 2, "c3": 2, "c4": 3, "c5": 3, "c6": 3, "c7": 4, "c8": 4, "c9": 5}
VALUES: dict[str, FormValue] = {
    "summary": "Phonics support for Year 1\nand Year 2",
    "maturity": 3,
    "phase": "secondary",
    "alliance": "a27",
    "areas": ["send,inclusion", "100%"],
    "health": Rag.AMBER,
    "conditions": RANKED,
    "start": date(2025, 3, 4),
    "at": time(16, 0),
    "days": 5,
    "rate": Decimal("450.50"),
}


def form_of(*fields: Field, pages: int = 1, **kwargs: Any) -> Form:
    """A form with the fields on its last page (earlier pages ask one question each)."""
    earlier = tuple(
        Page(f"Part {i + 1}", None, (TextField(f"q{i}", "Name"),)) for i in range(pages - 1)
    )
    return Form(
        callback_id="support.request",
        title="Request support",
        pages=(*earlier, Page("Your request", "Tell us *what* you need.", fields)),
        private_metadata='{"school": 115204}',
        **kwargs,
    )


def inputs(card: JSON) -> list[JSON]:
    return [e for e in card["body"] if str(e["type"]).startswith("Input.")]


def buttons(card: JSON) -> dict[str, JSON]:
    return {a["verb"]: a for e in card["body"] if e["type"] == "ActionSet" for a in e["actions"]}


def sent(card: JSON, verb: str = FORM_NEXT, **typed: str) -> JSON:
    """What Teams sends when the button with `verb` is pressed: its data, and each input's
    value as text (a number input's too), with `typed` answers in place of what was shown."""
    data: JSON = json.loads(json.dumps(buttons(card)[verb]["data"]))
    for element in inputs(card):
        value = element.get("value")
        data[element["id"]] = "" if value is None else str(value)
    data.update(typed)
    return data


def element_of(field: Field, value: object = None) -> JSON:
    card = check_card(form_card(form_of(field), 0, {field.id: value} if value is not None else {}))
    [element] = inputs(card)
    return element


# --- every field kind -------------------------------------------------------------------------


def test_text_field_is_a_text_input() -> None:
    assert element_of(SUMMARY, "Phonics") == {
        "type": "Input.Text",
        "id": "answer.summary",
        "label": "Summary of need",
        "isMultiline": True,
        "maxLength": 500,
        "placeholder": "What would help?",
        "value": "Phonics",
        "isRequired": True,
        "errorMessage": REQUIRED,
    }


def test_scale_is_expanded_choices_naming_each_point() -> None:
    element = element_of(MATURITY, 2)
    assert element["style"] == "expanded" and element["value"] == "2"
    assert element["choices"][0] == {"title": "1 — Not yet in place", "value": "1"}
    assert [c["value"] for c in element["choices"]] == ["1", "2", "3", "4"]


def test_a_long_scale_is_a_drop_down() -> None:
    element = element_of(ScaleField("score", "Score", low=0, high=20))
    assert element["style"] == "compact" and len(element["choices"]) == 21


def test_rag_is_expanded_with_its_descriptors() -> None:
    element = element_of(HEALTH, Rag.GREEN)
    assert element["style"] == "expanded" and element["value"] == "green"
    assert [c["title"] for c in element["choices"]] == [
        "Red — Urgent",
        "Amber — Some concerns",
        "Green — On track",
    ]


def test_choice_is_expanded_and_shows_descriptions() -> None:
    element = element_of(PHASE, "primary")
    assert element == {
        "type": "Input.ChoiceSet",
        "id": "answer.phase",
        "label": "Phase",
        "choices": [
            {"title": "Primary", "value": "primary"},
            {"title": "Secondary — Years 7 to 11", "value": "secondary"},
        ],
        "wrap": True,
        "style": "expanded",
        "value": "primary",
        "isRequired": True,
        "errorMessage": REQUIRED,
    }


def test_select_is_a_compact_choice_set_with_a_placeholder() -> None:
    element = element_of(ALLIANCE, "a2")
    assert element["style"] == "compact" and element["placeholder"] == "Pick one"
    assert len(element["choices"]) == 30 and element["value"] == "a2"


def test_multi_choice_is_multi_select_with_encoded_values() -> None:
    element = element_of(AREAS, ["send,inclusion", "100%"])
    assert element["isMultiSelect"] is True and element["style"] == "expanded"
    assert [c["value"] for c in element["choices"]] == ["maths", "send%2Cinclusion", "100%25"]
    assert element["value"] == "send%2Cinclusion,100%25"


def test_date_and_time_inputs() -> None:
    assert element_of(DateField("start", "Start"), date(2025, 3, 4))["value"] == "2025-03-04"
    assert element_of(TimeField("at", "At"), time(9, 5))["value"] == "09:05"
    assert element_of(DateField("start", "Start"))["type"] == "Input.Date"
    assert element_of(TimeField("at", "At"))["type"] == "Input.Time"


def test_whole_number_is_a_number_input_with_bounds() -> None:
    assert element_of(DAYS, 5) == {
        "type": "Input.Number",
        "id": "answer.days",
        "label": "Days of support",
        "min": 1,
        "max": 20,
        "value": 5,
        "errorMessage": "Enter a number from 1 to 20.",
        "isRequired": True,
    }


def test_decimal_is_text_so_no_digit_is_lost() -> None:
    element = element_of(
        NumberField("rate", "Rate", decimal=True), Decimal("0.1000000000000000055")
    )
    assert element["type"] == "Input.Text" and element["value"] == "0.1000000000000000055"
    assert element["regex"] == DECIMAL_PATTERN


@pytest.mark.parametrize("typed", ["450", "450.50", "-3", ".5", " 7. ", "+1"])
def test_decimal_pattern_takes_numbers(typed: str) -> None:
    assert re.match(DECIMAL_PATTERN, typed) and Decimal(typed.strip()).is_finite()


@pytest.mark.parametrize("typed", ["abc", "1,5", "1e3", "NaN", "Infinity", "1.2.3", ""])
def test_decimal_pattern_refuses_the_rest(typed: str) -> None:
    assert not re.match(DECIMAL_PATTERN, typed)


@pytest.mark.parametrize(
    ("field", "outside"),
    [
        (NumberField("n", "N", min_value=1, max_value=20), 21),
        (NumberField("n", "N", min_value=1), 0),
        (NumberField("n", "N", max_value=20), 21),
        (NumberField("n", "N", decimal=True, max_value=Decimal("2.5")), Decimal("3")),
    ],
)
def test_number_message_is_the_cores_own(field: NumberField, outside: int | Decimal) -> None:
    assert number_message(field) == field_problem(field, outside)


def test_ranking_is_one_choice_set_per_item() -> None:
    card = check_card(form_card(form_of(CONDITIONS), 0, {"conditions": RANKED}))
    items = inputs(card)
    assert [e["id"] for e in items] == [f"answer.conditions.c{i}" for i in range(1, 10)]
    assert [e["label"] for e in items] == [f"Condition {i}" for i in range(1, 10)]
    assert [e["value"] for e in items] == ["1", "2", "2", "3", "3", "3", "4", "4", "5"]
    assert items[0]["choices"][0] == {"title": "1 — greatest strength (1 item)", "value": "1"}
    assert items[0]["choices"][1] == {"title": "2 (2 items)", "value": "2"}
    assert all(e["isRequired"] and e["style"] == "compact" for e in items)
    texts = [e["text"] for e in card["body"] if e["type"] == "TextBlock"]
    assert "Rank the nine conditions" in texts
    assert any(t.startswith("Place 1 in tier 1 (greatest strength), 2 in tier 2") for t in texts)


def test_every_input_has_a_label_and_required_ones_say_so() -> None:
    optional = TextField("note", "Anything else?", required=False)
    card = check_card(form_card(form_of(*ALL_KINDS, optional), 0))
    for element in inputs(card):
        assert element["label"]
        if element["id"] in {"answer.note", "answer.rate"}:
            assert "isRequired" not in element
        else:
            assert element["isRequired"] is True and element["errorMessage"]
    assert "errorMessage" not in next(e for e in inputs(card) if e["id"] == "answer.note")


def test_field_help_is_small_print_under_the_input() -> None:
    card = check_card(form_card(form_of(MATURITY), 0))
    at = next(i for i, e in enumerate(card["body"]) if e.get("id") == "answer.maturity")
    assert card["body"][at + 1]["text"] == "Think about the last two terms."
    assert card["body"][at + 1]["isSubtle"] is True


# --- the page's frame and buttons -------------------------------------------------------------


def test_single_page_form_frame_and_submit_button() -> None:
    card = check_card(form_card(form_of(SUMMARY, submit_label="Send request"), 0))
    texts = [e["text"] for e in card["body"] if e["type"] == "TextBlock"]
    assert texts[:3] == ["Request support", "Your request", "Tell us **what** you need."]
    assert not any(t.startswith("Page ") for t in texts)
    assert list(buttons(card)) == [FORM_NEXT]
    assert buttons(card)[FORM_NEXT]["title"] == "Send request"
    assert card["fallbackText"] == "Request support"


def test_next_and_back_carry_the_form_page_and_metadata_with_submit_fallbacks() -> None:
    form = form_of(SUMMARY, pages=3)
    card = check_card(form_card(form, 1))
    assert "Page 2 of 3" in [e["text"] for e in card["body"] if e["type"] == "TextBlock"]
    data = {
        "slis_form": {
            "callback_id": "support.request",
            "page": 1,
            "metadata": '{"school": 115204}',
        }
    }
    back, nxt = [a for e in card["body"] if e["type"] == "ActionSet" for a in e["actions"]]
    # Back sends no answers (Teams would otherwise insist on the required ones first) and
    # says it is Back, for the Action.Submit fallback that has no verb.
    back_data = {"slis_form": {**data["slis_form"], "back": True}}
    assert back == {
        "type": "Action.Execute",
        "title": "Back",
        "verb": FORM_BACK,
        "data": back_data,
        "associatedInputs": "none",
        "fallback": {
            "type": "Action.Submit",
            "title": "Back",
            "data": back_data,
            "associatedInputs": "none",
        },
    }
    assert form_metadata(back_data) == FormMetadata(
        "support.request", 1, '{"school": 115204}', back=True
    )
    assert nxt == {
        "type": "Action.Execute",
        "title": "Next",
        "verb": FORM_NEXT,
        "data": data,
        "style": "positive",
        "fallback": {"type": "Action.Submit", "title": "Next", "data": data, "style": "positive"},
    }


def test_the_first_page_has_no_back_button_and_the_last_has_the_submit_label() -> None:
    form = form_of(SUMMARY, pages=2)
    assert list(buttons(form_card(form, 0))) == [FORM_NEXT]
    assert buttons(form_card(form, 0))[FORM_NEXT]["title"] == "Next"
    assert buttons(form_card(form, 1))[FORM_NEXT]["title"] == "Submit"


def test_a_page_the_form_does_not_have() -> None:
    with pytest.raises(ValueError, match="no page 3"):
        form_card(form_of(SUMMARY), 3)


@pytest.mark.parametrize("field_id", ["slis_form", "msteams", "slis"])
def test_input_ids_never_collide_with_the_buttons_data(field_id: str) -> None:
    card = form_card(form_of(TextField(field_id, "Tricky")), 0)
    data = sent(card, **{"answer." + field_id: "kept"})
    assert form_metadata(data) == FormMetadata("support.request", 0, '{"school": 115204}')
    assert parse_form(form_of(TextField(field_id, "Tricky")), data).values == {field_id: "kept"}


def test_a_page_too_big_for_a_card_is_refused() -> None:
    many = tuple(
        SelectField(
            f"s{i}",
            f"School {i}",
            options=tuple(Option(f"v{j}", f"School number {j}") for j in range(100)),
        )
        for i in range(20)
    )
    with pytest.raises(ValueError, match="Teams card"):
        form_card(form_of(*many), 0)


# --- problems shown under their fields --------------------------------------------------------


def test_a_problem_is_red_text_right_under_its_input() -> None:
    errors = {"days": "Enter a number from 1 to 20.", "phase": REQUIRED, "elsewhere": "ignored"}
    card = check_card(form_card(form_of(*ALL_KINDS), 0, errors=errors))
    body = card["body"]
    for field_id, message in list(errors.items())[:2]:
        at = next(i for i, e in enumerate(body) if e.get("id") == f"answer.{field_id}")
        assert body[at + 1] == {
            "type": "TextBlock",
            "text": message,
            "wrap": True,
            "color": "Attention",
            "spacing": "Small",
        }
    notices = [e["text"] for e in body if e.get("color") == "Attention"]
    assert notices == [
        "Some answers need another look: see the notes below.",
        REQUIRED,
        "Enter a number from 1 to 20.",
    ]
    assert "ignored" not in json.dumps(card)


def test_a_ranking_problem_is_shown_above_its_items() -> None:
    message = "Each tier takes a set number of items: tier 1 has 2, needs 1."
    card = check_card(form_card(form_of(CONDITIONS), 0, errors={"conditions": message}))
    body = card["body"]
    at = next(
        i for i, e in enumerate(body) if e.get("color") == "Attention" and e["text"] == message
    )
    assert body[at + 1]["id"] == ranking_input_ids(CONDITIONS)[0]


def test_no_notice_without_problems() -> None:
    card = form_card(form_of(*ALL_KINDS), 0)
    assert not [e for e in card["body"] if e.get("color") == "Attention"]


# --- round trips ------------------------------------------------------------------------------


def test_every_field_kind_round_trips() -> None:
    form = form_of(*ALL_KINDS)
    card = check_card(form_card(form, 0, VALUES))
    assert parse_form(form, sent(card)) == Submission(0, VALUES, {})


def test_answers_shown_are_the_initial_values_when_none_are_given() -> None:
    field = ChoiceField("phase", "Phase", options=NINE, initial="c4")
    form = form_of(field)
    assert parse_form(form, sent(form_card(form, 0))).values == {"phase": "c4"}


@given(
    st.lists(st.sampled_from([o.value for o in AREAS.options]), unique=True, max_size=2),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.decimals(allow_nan=False, allow_infinity=False, min_value=0, places=4),
    st.text().filter(lambda t: t.strip() == t and t.strip()),
)
def test_typed_answers_round_trip(picked: list[str], days: int, rate: Decimal, text: str) -> None:
    fields = (
        AREAS,
        NumberField("days", "Days"),
        NumberField("rate", "Rate", decimal=True),
        TextField("summary", "Summary"),
    )
    form = form_of(*fields)
    order = [o.value for o in AREAS.options]
    values: dict[str, FormValue] = {"days": days, "rate": rate, "summary": text}
    if picked:
        values["areas"] = sorted(picked, key=order.index)
    submission = parse_form(form, sent(form_card(form, 0, values)))
    assert submission.values == values
    assert str(submission.values["rate"]) == str(rate)  # not a digit lost or added


def test_multi_select_order_is_the_options_order() -> None:
    form = form_of(AREAS)
    data = sent(form_card(form, 0), **{"answer.areas": "100%25,maths"})
    assert parse_form(form, data).values == {"areas": ["maths", "100%"]}


def test_back_keeps_the_answers_of_the_page_left() -> None:
    form = form_of(*ALL_KINDS, pages=2)
    card = form_card(form, 1, VALUES)
    back = sent(card, FORM_BACK)
    assert form_metadata(back) == FormMetadata(
        "support.request", 1, '{"school": 115204}', back=True
    )
    assert parse_form(form, back).values == VALUES
    # Shown again, the page has them as its answers.
    again = form_card(form, 1, parse_form(form, back).values)
    assert again == card


def test_number_values_sent_as_numbers_are_read_too() -> None:
    form = form_of(DAYS)
    data = {**sent(form_card(form, 0)), "answer.days": 7}
    assert parse_form(form, data).values == {"days": 7}


# --- what is sent back, checked ---------------------------------------------------------------


def slack_view(form: Form, page: int, raw: Mapping[str, str]) -> JSON:
    """The Slack view_submission view with the same answers typed in as `raw` (by Teams input
    id), for comparing the two parsers."""
    state: JSON = {}
    for field in form.page(page).fields:
        if isinstance(field, RankingField):
            ids = zip(slack_forms.ranking_block_ids(field), ranking_input_ids(field), strict=True)
            for block_id, teams_id in ids:
                tier = raw.get(teams_id, "")
                option = {"value": tier} if tier else None
                state[block_id] = {block_id: {"type": "static_select", "selected_option": option}}
            continue
        typed = raw.get(input_id(field), "")
        action: JSON
        match field:
            case TextField() | NumberField():
                action = {"type": "plain_text_input", "value": typed or None}
            case MultiChoiceField():
                picked = [{"value": v} for v in typed.split(",") if v]
                action = {"type": "checkboxes", "selected_options": picked}
            case DateField():
                action = {"type": "datepicker", "selected_date": typed or None}
            case TimeField():
                action = {"type": "timepicker", "selected_time": typed or None}
            case _:
                option = {"value": typed} if typed else None
                action = {"type": "radio_buttons", "selected_option": option}
        state[field.id] = {field.id: action}
    view = slack_forms.modal(form, page)
    return {**view, "state": {"values": state}}


BAD_ANSWERS: list[tuple[str, dict[str, str]]] = [
    ("all missing", {}),
    ("all blank", {input_id(f): "" for f in ALL_KINDS if not isinstance(f, RankingField)}),
    (
        "all wrong",
        {
            "answer.summary": "x" * 501,
            "answer.maturity": "five",
            "answer.phase": "tertiary",
            "answer.alliance": "a99",
            "answer.areas": "maths,history",
            "answer.health": "purple",
            **{f"answer.conditions.c{i}": "1" for i in range(1, 10)},
            "answer.start": "4th March",
            "answer.at": "teatime",
            "answer.days": "21",
            "answer.rate": "lots",
        },
    ),
    (
        "wrong in other ways",
        {
            "answer.summary": "   ",
            "answer.maturity": "9",
            "answer.areas": "maths,send,inclusion,100%",
            "answer.conditions.c1": "six",
            "answer.days": "2.5",
            "answer.rate": "-1",
            "answer.start": "2025-02-30",
            "answer.at": "25:00",
        },
    ),
    ("not whole", {"answer.days": "1e400", "answer.conditions.c1": "1"}),
]


@pytest.mark.parametrize(("case", "raw"), BAD_ANSWERS, ids=[c for c, _ in BAD_ANSWERS])
def test_problems_are_worded_as_slacks_parser_words_them(case: str, raw: dict[str, str]) -> None:
    form = form_of(*ALL_KINDS)
    teams = parse_form(
        form,
        {**sent(form_card(form, 0)), **{i["id"]: "" for i in inputs(form_card(form, 0))}, **raw},
    )
    slack = slack_forms.parse_submission(form, slack_view(form, 0, raw))
    assert teams.errors and teams.errors == slack.errors
    assert teams.values == slack.values


def test_required_answers_missing_are_all_named() -> None:
    form = form_of(*ALL_KINDS)
    data = {"slis_form": {"callback_id": "support.request", "page": 0, "metadata": ""}}
    errors = parse_form(form, data).errors
    assert errors == {f.id: REQUIRED for f in ALL_KINDS if f.required}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "not from a page"),
        ({"slis_form": {"callback_id": "survey.answer", "page": 0, "metadata": ""}}, "survey"),
        ({"slis_form": {"callback_id": "support.request", "page": 4, "metadata": ""}}, "page 4"),
        (
            {
                "slis_form": {"callback_id": "support.request", "page": 0, "metadata": ""},
                "answer.summary": ["not", "text"],
            },
            "not text",
        ),
        (
            {
                "slis_form": {"callback_id": "support.request", "page": 0, "metadata": ""},
                "answer.conditions.c1": {"tier": 1},
            },
            "not text",
        ),
    ],
)
def test_data_that_does_not_fit_the_form_is_refused(data: JSON, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_form(form_of(*ALL_KINDS), data)


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "slis_form",
        {"slis_form": None},
        {"slis_form": {"page": 0, "metadata": ""}},
        {"slis_form": {"callback_id": "", "page": 0, "metadata": ""}},
        {"slis_form": {"callback_id": "x", "page": -1, "metadata": ""}},
        {"slis_form": {"callback_id": "x", "page": True, "metadata": ""}},
        {"slis_form": {"callback_id": "x", "page": "0", "metadata": ""}},
        {"slis_form": {"callback_id": "x", "page": 0}},
        {"slis_form": {"callback_id": "x", "page": 0, "metadata": 7}},
        {"slis": {"action": "support.claim", "value": "12"}},
    ],
)
def test_form_metadata_is_none_for_anything_else(data: object) -> None:
    assert form_metadata(data) is None


@given(
    st.one_of(
        JSON_VALUES,
        st.fixed_dictionaries(
            {
                "slis_form": st.dictionaries(
                    st.sampled_from(["callback_id", "page", "metadata"]), JSON_VALUES
                )
            }
        ),
        st.builds(object),
    )
)
def test_form_metadata_never_raises(data: object) -> None:
    metadata = form_metadata(data)
    assert metadata is None or (metadata.page >= 0 and metadata.callback_id)


@given(
    st.dictionaries(
        st.sampled_from([input_id(f) for f in ALL_KINDS[:6]] + ["answer.days"]), st.text()
    )
)
def test_any_typed_text_parses_or_is_a_problem(typed: dict[str, str]) -> None:
    form = form_of(*ALL_KINDS)
    submission = parse_form(form, {**sent(form_card(form, 0)), **typed})
    assert set(submission.values) | set(submission.errors) <= set(form.field_ids())


# --- the end of a form ------------------------------------------------------------------------


def test_result_card_is_the_title_then_the_reply() -> None:
    reply = Reply(
        "Sent to the Mid quadrant.",
        (Paragraph("Sent *today*."), Actions((Button("View", "view"),))),
    )
    card = check_card(result_card("Request support", reply))
    assert [e["type"] for e in card["body"]] == ["TextBlock", "TextBlock", "ActionSet"]
    assert card["body"][0]["weight"] == "Bolder" and card["body"][0]["text"] == "Request support"
    assert card["body"][1]["text"] == "Sent **today**."


def test_result_card_of_a_reply_without_blocks_shows_its_text() -> None:
    card = check_card(result_card("Healthcheck", Reply("Thank you, your answers are saved.")))
    assert [e["text"] for e in card["body"]] == [
        "Healthcheck",
        "Thank you, your answers are saved.",
    ]


def test_result_card_of_an_error_is_marked() -> None:
    card = check_card(result_card("Healthcheck", Reply("This round has closed.", is_error=True)))
    assert card["body"][0]["style"] == "attention"


def test_form_cards_fit_teams() -> None:
    form = form_of(*ALL_KINDS, pages=2)
    assert card_size(form_card(form, 1, VALUES)) < CARD_SIZE_LIMIT
