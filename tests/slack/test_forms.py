"""Forms as Slack modals: every field kind's element, Slack's limits, multi-page flow, and
submissions parsed back to the same typed values (checked against the shapes Slack sends)."""

from __future__ import annotations

import copy
import json
import re
import warnings
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.views import View

from bot.forms import (
    PAGE_FRAME_BLOCKS,
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
    paginate,
)
from handlers.slack import forms
from handlers.slack.forms import (
    BACK_ACTION,
    Submission,
    clear_response,
    errors_response,
    modal,
    parse_submission,
    push_response,
    update_response,
    view_metadata,
)

JSON = dict[str, Any]
PAYLOADS = Path(__file__).parent.parent / "fixtures" / "slack" / "payloads"
NINE = tuple(Option(f"c{i}", f"Condition {i}") for i in range(1, 10))


def opts(n: int, label: str = "Option") -> tuple[Option, ...]:
    return tuple(Option(f"v{i}", f"{label} {i}") for i in range(n))


def form_of(*fields: Field, **kwargs: Any) -> Form:
    return Form(
        callback_id="healthcheck.answer",
        title="Healthcheck",
        pages=(Page("Questions", None, fields),),
        **kwargs,
    )


def render_one(field: Field, value: object = None) -> list[JSON]:
    """The blocks a lone field renders to (after the page's header)."""
    values = {} if value is None else {field.id: value}
    view = check_view(modal(form_of(field), values=values))
    blocks: list[JSON] = view["blocks"][1:]
    return blocks


def element_of(field: Field, value: object = None) -> JSON:
    [block] = render_one(field, value)
    assert block["type"] == "input" and block["block_id"] == field.id
    element: JSON = block["element"]
    return element


def option_texts(element: JSON) -> list[str]:
    return [o["text"]["text"] for o in all_options(element)]


def all_options(element: JSON) -> list[JSON]:
    if "option_groups" in element:
        return [o for g in element["option_groups"] for o in g["options"]]
    options: list[JSON] = element["options"]
    return options


# --- what Slack does with a view: a structural check and a simulated person -----------------

PLAIN_TEXT_LIMITS = {"header": 150}
ELEMENT_KEYS = {
    "plain_text_input": {
        "type", "action_id", "multiline", "max_length", "min_length", "placeholder",
        "initial_value",
    },
    "radio_buttons": {"type", "action_id", "options", "initial_option"},
    "checkboxes": {"type", "action_id", "options", "initial_options"},
    "static_select": {
        "type", "action_id", "options", "option_groups", "initial_option", "placeholder",
    },
    "multi_static_select": {
        "type", "action_id", "options", "option_groups", "initial_options", "placeholder",
        "max_selected_items",
    },
    "datepicker": {"type", "action_id", "initial_date", "placeholder"},
    "timepicker": {"type", "action_id", "initial_time", "placeholder"},
    "number_input": {
        "type", "action_id", "is_decimal_allowed", "initial_value", "min_value", "max_value",
        "placeholder",
    },
}  # fmt: skip


def plain(obj: JSON, limit: int) -> str:
    assert obj["type"] == "plain_text", obj
    text: str = obj["text"]
    assert 1 <= len(text) <= limit, (len(text), limit, text)
    return text


def check_options(options: list[JSON], *, menu: bool) -> None:
    for option in options:
        assert set(option) <= {"text", "value", "description"}
        plain(option["text"], 75)
        assert 1 <= len(option["value"]) <= 150
        if "description" in option:
            assert not menu, "select menus show no option descriptions"
            plain(option["description"], 75)


def check_element(element: JSON) -> None:
    kind = element["type"]
    assert set(element) <= ELEMENT_KEYS[kind], set(element) - ELEMENT_KEYS[kind]
    assert 1 <= len(element["action_id"]) <= 255
    if "placeholder" in element:
        plain(element["placeholder"], 150)
    if kind in ("radio_buttons", "checkboxes"):
        assert 1 <= len(element["options"]) <= 10
        check_options(element["options"], menu=False)
    if kind in ("static_select", "multi_static_select"):
        assert ("options" in element) != ("option_groups" in element)
        if "options" in element:
            assert 1 <= len(element["options"]) <= 100
        else:
            assert 1 <= len(element["option_groups"]) <= 100
            for group in element["option_groups"]:
                plain(group["label"], 75)
                assert 1 <= len(group["options"]) <= 100
        check_options(all_options(element), menu=True)
    if "options" in element or "option_groups" in element:
        values = [o["value"] for o in all_options(element)]
        assert len(values) == len(set(values))
        # Slack refuses an initial option that is not identical to one of the options.
        initial = element.get("initial_options", [])
        if "initial_option" in element:
            initial = [element["initial_option"]]
        assert all(o in all_options(element) for o in initial)
        assert len(initial) <= element.get("max_selected_items", len(values))
    if kind == "plain_text_input":
        assert 1 <= element.get("max_length", 3000) <= 3000
        assert len(element.get("initial_value", "")) <= element.get("max_length", 3000)
    if kind == "datepicker" and "initial_date" in element:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", element["initial_date"])
    if kind == "timepicker" and "initial_time" in element:
        assert re.fullmatch(r"\d{2}:\d{2}", element["initial_time"])
    if kind == "number_input":
        assert isinstance(element["is_decimal_allowed"], bool)
        for key in ("min_value", "max_value", "initial_value"):
            if key in element:
                assert re.fullmatch(r"-?\d+(\.\d+)?", element[key]), element[key]


def check_view(view: JSON) -> JSON:
    """Fail unless Slack would accept the view: required keys, limits, unique ids."""
    assert view["type"] == "modal"
    assert set(view) <= {
        "type", "callback_id", "title", "submit", "close", "private_metadata", "blocks",
    }  # fmt: skip
    plain(view["title"], 24)
    plain(view["submit"], 24)
    plain(view["close"], 24)
    assert 1 <= len(view["callback_id"]) <= 255
    assert len(view["private_metadata"]) <= 3000
    assert 1 <= len(view["blocks"]) <= 100
    block_ids = [b["block_id"] for b in view["blocks"] if "block_id" in b]
    assert len(block_ids) == len(set(block_ids)), "block ids must be unique"
    assert all(1 <= len(b) <= 255 for b in block_ids)
    for block in view["blocks"]:
        kind = block["type"]
        if kind == "header":
            plain(block["text"], 150)
        elif kind == "section":
            assert block["text"]["type"] == "mrkdwn"
            assert 1 <= len(block["text"]["text"]) <= 3000
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10
        elif kind == "actions":
            assert 1 <= len(block["elements"]) <= 25
            for button in block["elements"]:
                plain(button["text"], 75)
                assert len(button["value"]) <= 2000
        else:
            assert kind == "input", kind
            assert set(block) <= {"type", "block_id", "label", "hint", "optional", "element"}
            plain(block["label"], 2000)
            if "hint" in block:
                plain(block["hint"], 2000)
            assert isinstance(block["optional"], bool)
            check_element(block["element"])
    # slack_sdk's own models know the same keys and some of the limits: an independent check.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = View(**view)
        model.validate_json()
        for block in model.blocks:
            block.validate_json()
            element = getattr(block, "element", None)
            if element is not None:
                element.validate_json()
        assert model.to_dict() == view
    return view


class SlackWouldRefuse(AssertionError):
    """The Slack client would not let the person submit this (it checks these itself)."""


def find_option(element: JSON, value: str) -> JSON:
    for option in all_options(element):
        if option["value"] == value:
            return copy.deepcopy(option)
    raise SlackWouldRefuse(f"{value!r} is not offered by {element['action_id']}")


def state_for(view: JSON, answers: Mapping[str, object] | None = None) -> JSON:
    """`view.state` as Slack sends it on submit: every input element's current value, which is
    its initial value unless `answers` ({block id: what the person entered — text, an option
    value or a list of them, "YYYY-MM-DD", "HH:MM", or None to clear it}) says otherwise."""
    answers = answers or {}
    values: JSON = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element, block_id = block["element"], block["block_id"]
        kind = element["type"]
        changed = block_id in answers
        given = answers.get(block_id)
        entry: JSON = {"type": kind}
        if kind in ("plain_text_input", "number_input"):
            text = given if changed else element.get("initial_value")
            entry["value"] = text or None
            if (
                kind == "plain_text_input"
                and text
                and len(str(text)) > element.get("max_length", 3000)
            ):
                raise SlackWouldRefuse("text longer than max_length")
            if kind == "number_input" and text:
                number = Decimal(str(text))
                if not element["is_decimal_allowed"] and number != int(number):
                    raise SlackWouldRefuse("a decimal where only whole numbers are allowed")
                low, high = element.get("min_value"), element.get("max_value")
                if (low and number < Decimal(low)) or (high and number > Decimal(high)):
                    raise SlackWouldRefuse("a number outside min_value..max_value")
        elif kind in ("radio_buttons", "static_select"):
            initial = element.get("initial_option")
            chosen = given if changed else (initial or {}).get("value")
            entry["selected_option"] = None if chosen is None else find_option(element, str(chosen))
        elif kind in ("checkboxes", "multi_static_select"):
            initial = [o["value"] for o in element.get("initial_options", [])]
            chosen_all = given if changed else initial
            assert isinstance(chosen_all, list | type(None))
            entry["selected_options"] = [find_option(element, v) for v in chosen_all or []]
            limit = element.get("max_selected_items")
            if limit is not None and len(entry["selected_options"]) > limit:
                raise SlackWouldRefuse("more selected than max_selected_items")
        elif kind == "datepicker":
            entry["selected_date"] = given if changed else element.get("initial_date")
        elif kind == "timepicker":
            entry["selected_time"] = given if changed else element.get("initial_time")
        else:
            raise AssertionError(f"no state shape for {kind}")
        empty = all(not v for k, v in entry.items() if k != "type")
        if empty and not block["optional"]:
            raise SlackWouldRefuse(f"{block_id} is required")
        values[block_id] = {element["action_id"]: entry}
    return {"values": values}


def submission(
    view: JSON, answers: Mapping[str, object] | None = None, *, state: JSON | None = None
) -> JSON:
    """A whole `view_submission` payload for the shown view, in the shape of the real one
    recorded from bolt-python's tests."""
    body: JSON = json.loads((PAYLOADS / "view_submission.json").read_text())
    body["view"].update(copy.deepcopy(view))
    body["view"]["state"] = state if state is not None else state_for(view, answers)
    return body


def submit(form: Form, page: int = 0, values: Mapping[str, object] | None = None) -> Submission:
    """Show the page with `values`, let the person send it unchanged, and parse what comes."""
    return parse_submission(form, submission(modal(form, page, values))["view"])


# --- every field kind ------------------------------------------------------------------------


def test_text_field_is_a_plain_text_input() -> None:
    field = TextField(
        "comment",
        "Anything to add?",
        help="Seen by the Board without your name.",
        required=False,
        multiline=True,
        max_length=500,
        placeholder="Optional",
    )
    [block] = render_one(field, "Going well")
    assert block == {
        "type": "input",
        "block_id": "comment",
        "label": {"type": "plain_text", "text": "Anything to add?", "emoji": True},
        "optional": True,
        "element": {
            "type": "plain_text_input",
            "action_id": "comment",
            "multiline": True,
            "max_length": 500,
            "placeholder": {"type": "plain_text", "text": "Optional", "emoji": True},
            "initial_value": "Going well",
        },
        "hint": {
            "type": "plain_text",
            "text": "Seen by the Board without your name.",
            "emoji": True,
        },
    }


def test_text_max_length_is_capped_at_slacks_3000() -> None:
    assert element_of(TextField("t", "T", max_length=10_000))["max_length"] == 3000
    assert "max_length" not in element_of(TextField("t", "T"))


def test_short_scale_is_radio_buttons_with_each_points_descriptor() -> None:
    field = ScaleField(
        "c1",
        "Shared moral purpose",
        point_labels=("Not yet", "Emerging", "Established", "Embedded"),
    )
    element = element_of(field, 3)
    assert element["type"] == "radio_buttons"
    assert option_texts(element) == [
        "1 — Not yet",
        "2 — Emerging",
        "3 — Established",
        "4 — Embedded",
    ]
    assert [o["value"] for o in element["options"]] == ["1", "2", "3", "4"]
    assert element["initial_option"] == element["options"][2]


def test_long_scale_is_a_static_select() -> None:
    element = element_of(ScaleField("nps", "Recommend us?", low=0, high=10), 7)
    assert element["type"] == "static_select"
    assert option_texts(element) == [str(n) for n in range(11)]
    assert element["initial_option"]["value"] == "7"
    five = element_of(ScaleField("s", "S", low=1, high=5))
    assert five["type"] == "radio_buttons"


def test_choice_is_radio_buttons_up_to_ten_options_then_a_select() -> None:
    few = ChoiceField(
        "support",
        "Would you welcome support or a peer review?",
        options=(Option("yes", "Yes", "We'll be in touch"), Option("no", "No")),
        initial="no",
    )
    element = element_of(few)
    assert element["type"] == "radio_buttons"
    assert element["options"][0]["description"]["text"] == "We'll be in touch"
    assert element["initial_option"] == element["options"][1]
    ten = element_of(ChoiceField("c", "C", options=opts(10)))
    assert ten["type"] == "radio_buttons"
    many = element_of(ChoiceField("c", "C", options=opts(11)), "v10")
    assert many["type"] == "static_select"
    assert len(many["options"]) == 11
    assert many["initial_option"] == {
        "text": {"type": "plain_text", "text": "Option 10", "emoji": True},
        "value": "v10",
    }


def test_select_is_always_a_static_select_and_drops_descriptions() -> None:
    field = SelectField(
        "template",
        "Template",
        options=(Option("hc", "Partnership healthcheck", "Nine conditions"),),
        placeholder="Pick a template",
    )
    element = element_of(field)
    assert element == {
        "type": "static_select",
        "action_id": "template",
        "placeholder": {"type": "plain_text", "text": "Pick a template", "emoji": True},
        "options": [
            {
                "text": {"type": "plain_text", "text": "Partnership healthcheck", "emoji": True},
                "value": "hc",
            }
        ],
    }


def test_more_than_a_hundred_options_go_into_groups_of_a_hundred() -> None:
    field = SelectField("urn", "School", options=opts(250, "School"))
    element = element_of(field, "v249")
    assert "options" not in element
    assert [len(g["options"]) for g in element["option_groups"]] == [100, 100, 50]
    assert element["option_groups"][0]["label"]["text"] == "School 0 – School 99"
    assert element["initial_option"]["value"] == "v249"
    with pytest.raises(ValueError, match="at most 10000"):
        modal(form_of(SelectField("s", "S", options=opts(10_001))))


def test_multi_choice_is_checkboxes_up_to_ten_options() -> None:
    field = MultiChoiceField(
        "areas", "Areas", options=opts(4), max_selected=2, initial=("v1",), required=False
    )
    element = element_of(field, ["v3", "v1"])
    assert element["type"] == "checkboxes"
    assert [o["value"] for o in element["initial_options"]] == ["v1", "v3"]
    assert "max_selected_items" not in element  # checkboxes have none: validation counts


def test_multi_choice_with_many_options_is_a_multi_select_with_a_maximum() -> None:
    element = element_of(MultiChoiceField("areas", "Areas", options=opts(12), max_selected=3))
    assert element["type"] == "multi_static_select"
    assert element["max_selected_items"] == 3
    assert element["placeholder"]["text"] == "Choose up to 3"
    assert "initial_options" not in element


def test_rag_is_radio_buttons_labelled_by_colour_and_descriptor() -> None:
    field = RagField(
        "position",
        "Your school's current position",
        red="Serious concerns",
        amber="Some concerns",
        green="On track",
    )
    element = element_of(field, Rag.AMBER)
    assert element["type"] == "radio_buttons"
    assert option_texts(element) == [
        "Red — Serious concerns",
        "Amber — Some concerns",
        "Green — On track",
    ]
    assert [o["value"] for o in element["options"]] == ["red", "amber", "green"]
    assert element["initial_option"]["value"] == "amber"
    assert option_texts(element_of(RagField("r", "R"))) == ["Red", "Amber", "Green"]


def test_ranking_is_a_heading_and_one_tier_select_per_item() -> None:
    field = RankingField("d9", "Rank the nine conditions", items=NINE, help="Think of this year.")
    blocks = render_one(field, {"c2": 2})
    heading, *items = blocks
    assert heading["type"] == "section"
    assert heading["text"]["text"] == (
        "*Rank the nine conditions*\nThink of this year.\nPlace 1 in tier 1 (greatest "
        "strength), 2 in tier 2, 3 in tier 3, 2 in tier 4, 1 in tier 5 (most improvement "
        "needed)."
    )
    assert [b["block_id"] for b in items] == ["d9"] + [f"d9.c{i}" for i in range(2, 10)]
    assert [b["label"]["text"] for b in items] == [o.label for o in NINE]
    assert all(b["element"]["action_id"] == b["block_id"] for b in items)
    assert all(b["element"]["type"] == "static_select" for b in items)
    assert option_texts(items[0]["element"]) == [
        "1 — greatest strength (1 item)",
        "2 (2 items)",
        "3 (3 items)",
        "4 (2 items)",
        "5 — most improvement needed (1 item)",
    ]
    assert items[1]["element"]["initial_option"]["value"] == "2"
    assert "initial_option" not in items[0]["element"]
    assert not any(b["optional"] for b in items)


def test_date_time_and_number_elements() -> None:
    assert element_of(DateField("opens", "Opens"), date(2026, 9, 7)) == {
        "type": "datepicker",
        "action_id": "opens",
        "initial_date": "2026-09-07",
    }
    assert element_of(TimeField("at", "At"), time(8, 5)) == {
        "type": "timepicker",
        "action_id": "at",
        "initial_time": "08:05",
    }
    days = NumberField(
        "days",
        "Days of support",
        decimal=True,
        min_value=Decimal("0.5"),
        max_value=20,
        placeholder="e.g. 2.5",
    )
    assert element_of(days, Decimal("2.50")) == {
        "type": "number_input",
        "action_id": "days",
        "is_decimal_allowed": True,
        "min_value": "0.5",
        "max_value": "20",
        "placeholder": {"type": "plain_text", "text": "e.g. 2.5", "emoji": True},
        "initial_value": "2.50",
    }
    tiny = element_of(NumberField("n", "N", decimal=True), Decimal("1E-7"))
    assert tiny["initial_value"] == "0.0000001"
    assert element_of(NumberField("n", "N"), 3)["is_decimal_allowed"] is False


def test_required_is_not_optional_and_help_is_the_hint() -> None:
    [block] = render_one(DateField("d", "D", help="Any school day"))
    assert block["optional"] is False
    assert block["hint"]["text"] == "Any school day"


# --- Slack's limits --------------------------------------------------------------------------


def test_long_option_text_is_clipped_and_the_value_kept() -> None:
    field = ChoiceField(
        "c", "C", options=(Option("keep-me", "x" * 200, "d" * 200), Option("b", "B"))
    )
    [option, _] = element_of(field, "keep-me")["options"]
    assert option["value"] == "keep-me"
    assert len(option["text"]["text"]) == 75 and option["text"]["text"].endswith("…")
    assert len(option["description"]["text"]) == 75


def test_clipped_descriptors_are_shown_whole_in_the_hint() -> None:
    long = "Leaders across the partnership share a clear, ambitious vision for every pupil"
    [block] = render_one(
        ScaleField("c1", "Vision", help="Pick one.", point_labels=("None", "Some", "Most", long))
    )
    texts = option_texts(block["element"])
    assert len(texts[3]) == 75 and texts[3].endswith("…")
    assert block["hint"]["text"] == f"Pick one.\n4 — {long}"
    [rag] = render_one(RagField("r", "R", red=long))
    assert rag["hint"]["text"] == f"Red — {long}"


def test_labels_hints_placeholders_and_headers_are_clipped() -> None:
    field = TextField("t", "L" * 3000, help="H" * 3000, placeholder="P" * 300)
    page = Page("W " * 200, "&" * 2000, (field,))
    view = check_view(modal(Form(callback_id="f", title="T", pages=(page,))))
    header, intro, block = view["blocks"]
    assert len(header["text"]["text"]) == 150
    assert intro["text"]["text"].endswith("…") and "&amp;" in intro["text"]["text"]
    assert len(block["label"]["text"]) == 2000
    assert len(block["hint"]["text"]) == 2000
    assert len(block["element"]["placeholder"]["text"]) == 150


def test_a_full_page_is_a_hundred_blocks() -> None:
    # A multi-page form's middle page carries every frame block: header, position, intro, Back.
    fields = [TextField(f"t{i}", "T") for i in range(100 - PAGE_FRAME_BLOCKS)]
    first = Page("First", None, (TextField("a", "A"),))
    last = Page("Last", None, (TextField("z", "Z"),))
    survey = Form(
        callback_id="f",
        title="T",
        pages=(first, Page("Full", "Intro", tuple(fields)), last),
    )
    view = check_view(modal(survey, 1))
    assert len(view["blocks"]) == 100


def test_a_long_form_is_paginated_to_pages_slack_can_show() -> None:
    fields = [ScaleField(f"q{i}", f"Question {i}") for i in range(150)] + [
        RankingField("d9", "Diamond 9", items=NINE)
    ]
    survey = Form(callback_id="f", title="Long survey", pages=paginate(fields, intro="Hello"))
    assert survey.page_count > 1
    for n in range(survey.page_count):
        assert len(check_view(modal(survey, n))["blocks"]) <= 100


def test_private_metadata_carries_the_form_page_and_its_own_metadata() -> None:
    survey = Form(
        callback_id="healthcheck.answer",
        title="Healthcheck",
        pages=(Page("", None, (TextField("a", "A"),)), Page("", None, (TextField("b", "B"),))),
        private_metadata='{"round": 12}',
    )
    view = modal(survey, 1)
    assert json.loads(view["private_metadata"]) == {
        "form": "healthcheck.answer",
        "page": 1,
        "meta": '{"round": 12}',
    }
    assert view_metadata(view) == forms.FormMetadata("healthcheck.answer", 1, '{"round": 12}')
    quotes = Form(
        callback_id="x" * 255,
        title="T",
        pages=survey.pages,
        private_metadata='"' * 2000,
    )
    with pytest.raises(ValueError, match="private_metadata"):
        modal(quotes)


@pytest.mark.parametrize(
    "metadata", ["", "This is for you!", "[]", '{"form": "f", "page": "1", "meta": ""}']
)
def test_other_metadata_is_not_a_forms(metadata: str) -> None:
    assert view_metadata({"private_metadata": metadata}) is None


# --- multi-page flow -------------------------------------------------------------------------


def three_pages() -> Form:
    return Form(
        callback_id="healthcheck.answer",
        title="Partnership healthcheck",
        submit_label="Send answers",
        pages=(
            Page("Conditions", "Rate each condition.", (ScaleField("c1", "Condition 1"),)),
            Page("Ranking", None, (RankingField("d9", "Diamond 9", items=NINE),)),
            Page("Anything else", None, (TextField("note", "Note", required=False),)),
        ),
    )


def test_pages_say_where_you_are_and_next_until_the_last() -> None:
    survey = three_pages()
    views = [check_view(modal(survey, n)) for n in range(3)]
    assert [v["submit"]["text"] for v in views] == ["Next", "Next", "Send answers"]
    assert [v["close"]["text"] for v in views] == ["Cancel"] * 3
    assert [v["title"]["text"] for v in views] == ["Partnership healthcheck"] * 3
    assert [v["blocks"][1]["elements"][0]["text"] for v in views] == [
        "Page 1 of 3",
        "Page 2 of 3",
        "Page 3 of 3",
    ]
    assert views[0]["blocks"][2]["text"]["text"] == "Rate each condition."


def test_pages_after_the_first_have_a_back_button() -> None:
    survey = three_pages()
    assert all(b["type"] != "actions" for b in modal(survey, 0)["blocks"])
    back = modal(survey, 2)["blocks"][-1]
    assert back["type"] == "actions"
    [button] = back["elements"]
    assert button["action_id"] == BACK_ACTION and button["value"] == "1"
    assert button["text"]["text"] == "Back"


def test_a_single_page_form_has_no_position_and_its_own_submit_label() -> None:
    view = modal(form_of(TextField("t", "T")))
    assert view["submit"]["text"] == "Submit"
    assert [b["type"] for b in view["blocks"]] == ["header", "input"]


def test_going_back_and_forward_shows_what_was_given() -> None:
    survey = three_pages()
    given: dict[str, FormValue] = {}
    first = parse_submission(survey, submission(modal(survey, 0), {"c1": "3"})["view"])
    assert first == Submission(0, {"c1": 3}, {})
    given.update(first.values)
    placed = dict(zip([f"d9.c{i}" for i in range(2, 10)], "223334455", strict=False))
    second_view = modal(survey, 1, given)
    second = parse_submission(survey, submission(second_view, {"d9": "1", **placed})["view"])
    assert second.errors == {}
    given.update(second.values)
    # Back to the first page: the answer given is selected again.
    again = modal(survey, 0, given)
    assert again["blocks"][3]["element"]["initial_option"]["value"] == "3"
    assert submit(survey, 1, given).values == {"d9": second.values["d9"]}


def test_initial_values_fill_in_and_answers_win_over_them() -> None:
    field = TextField("t", "T", initial="draft")
    assert element_of(field)["initial_value"] == "draft"
    assert element_of(field, "final")["initial_value"] == "final"


def test_a_value_the_element_cannot_show_is_left_out() -> None:
    assert "initial_option" not in element_of(ChoiceField("c", "C", options=opts(2)), "gone")
    assert "initial_options" not in element_of(
        MultiChoiceField("m", "M", options=opts(2)), ["gone"]
    )
    assert "initial_date" not in element_of(DateField("d", "D"), "2026-01-01")
    at_nine = datetime(2026, 9, 2, 9, 0)
    assert element_of(DateField("d", "D"), at_nine)["initial_date"] == "2026-09-02"
    for number in (Decimal("2.5"), 11, True):
        field = NumberField("n", "N", max_value=10)
        assert "initial_value" not in element_of(field, number)


def test_errors_given_to_modal_show_in_the_hint_and_a_notice() -> None:
    survey = three_pages()
    view = check_view(modal(survey, 1, errors={"d9": "Tier 1 takes one item.", "c1": "x"}))
    assert view["blocks"][1]["elements"][1]["text"].startswith("Some answers need another look")
    first_item = view["blocks"][3]
    assert first_item["block_id"] == "d9"
    assert first_item["hint"]["text"] == "Tier 1 takes one item."
    assert len(modal(survey, 0, errors={"d9": "not on this page"})["blocks"][1]["elements"]) == 1


# --- responses -------------------------------------------------------------------------------


def test_response_actions() -> None:
    view = modal(three_pages(), 1)
    assert errors_response({"d9": "Place every item."}) == {
        "response_action": "errors",
        "errors": {"d9": "Place every item."},
    }
    assert update_response(view) == {"response_action": "update", "view": view}
    assert push_response(view) == {"response_action": "push", "view": view}
    assert clear_response() == {"response_action": "clear"}


# --- parsing what Slack sends ----------------------------------------------------------------


def test_the_recorded_view_submission_parses() -> None:
    body = json.loads((PAYLOADS / "view_submission.json").read_text())
    recorded = Form(
        callback_id="view-id",
        title="My App",
        pages=(Page("", None, (TextField("hspI", "Label"),)),),
    )
    assert parse_submission(recorded, body["view"]) == Submission(0, {"hspI": "test"}, {})
    # The other recording has an empty state: it parses, with the question unanswered.
    empty = json.loads((PAYLOADS / "view_submission_with_response_urls.json").read_text())
    assert parse_submission(recorded, empty["view"]) == Submission(0, {}, {"hspI": REQUIRED})


def test_a_person_choosing_gets_typed_values() -> None:
    survey = Form(
        callback_id="checkin",
        title="School check-in",
        pages=(
            Page(
                "",
                None,
                (
                    RagField("position", "Position"),
                    TextField("why", "Why", multiline=True),
                    ChoiceField("support", "Support?", options=opts(2)),
                    MultiChoiceField("areas", "Areas", options=opts(12), required=False),
                    DateField("visit", "Visit"),
                    TimeField("at", "At"),
                    NumberField("days", "Days", decimal=True),
                    NumberField("staff", "Staff"),
                    ScaleField("nps", "Recommend", low=0, high=10),
                ),
            ),
        ),
    )
    answers = {
        "position": "amber",
        "why": "  Staffing \n",
        "support": "v1",
        "areas": ["v11", "v2"],
        "visit": "2026-10-05",
        "at": "13:45",
        "days": "2.5",
        "staff": "-3",
        "nps": "9",
    }
    parsed = parse_submission(survey, submission(modal(survey), answers)["view"])
    assert parsed == Submission(
        0,
        {
            "position": Rag.AMBER,
            "why": "Staffing",
            "support": "v1",
            "areas": ["v2", "v11"],
            "visit": date(2026, 10, 5),
            "at": time(13, 45),
            "days": Decimal("2.5"),
            "staff": -3,
            "nps": 9,
        },
        {},
    )
    assert type(parsed.values["position"]) is Rag
    assert type(parsed.values["staff"]) is int


def test_unanswered_optional_fields_have_no_value() -> None:
    survey = form_of(
        TextField("t", "T", required=False),
        ChoiceField("c", "C", options=opts(2), required=False),
        MultiChoiceField("m", "M", options=opts(2), required=False),
        DateField("d", "D", required=False),
        NumberField("n", "N", required=False),
        RankingField("r", "R", items=NINE, required=False),
    )
    assert submit(survey) == Submission(0, {}, {})


def test_the_simulated_state_has_slacks_shapes() -> None:
    survey = form_of(
        TextField("t", "T", required=False),
        ChoiceField("c", "C", options=opts(2)),
        SelectField("s", "S", options=opts(2), required=False),
        MultiChoiceField("m", "M", options=opts(2)),
        DateField("d", "D", required=False),
        TimeField("h", "H", required=False),
        NumberField("n", "N", required=False),
    )
    state = state_for(modal(survey), {"c": "v0", "m": ["v1"]})

    def option(n: int) -> JSON:
        return {
            "text": {"type": "plain_text", "text": f"Option {n}", "emoji": True},
            "value": f"v{n}",
        }

    assert state == {
        "values": {
            "t": {"t": {"type": "plain_text_input", "value": None}},
            "c": {"c": {"type": "radio_buttons", "selected_option": option(0)}},
            "s": {"s": {"type": "static_select", "selected_option": None}},
            "m": {"m": {"type": "checkboxes", "selected_options": [option(1)]}},
            "d": {"d": {"type": "datepicker", "selected_date": None}},
            "h": {"h": {"type": "timepicker", "selected_time": None}},
            "n": {"n": {"type": "number_input", "value": None}},
        }
    }


def test_the_simulated_person_cannot_skip_what_slack_requires() -> None:
    view = modal(form_of(TextField("t", "T")))
    with pytest.raises(SlackWouldRefuse, match="required"):
        state_for(view)
    with pytest.raises(SlackWouldRefuse, match="not offered"):
        state_for(modal(form_of(ChoiceField("c", "C", options=opts(2)))), {"c": "v9"})


# --- validation errors come back keyed by block id -------------------------------------------


def errors_of(form: Form, state_values: JSON, page: int = 0) -> JSON:
    """Submit a state built by hand (Slack's client checks skipped) and answer as the handler
    would: the errors response."""
    view = submission(modal(form, page), state={"values": state_values})["view"]
    parsed = parse_submission(form, view)
    return errors_response(parsed.errors)


def test_required_answers_missing() -> None:
    survey = form_of(
        TextField("t", "T"),
        ChoiceField("c", "C", options=opts(2)),
        RankingField("d9", "Diamond 9", items=NINE),
    )
    text = {"t": {"t": {"type": "plain_text_input", "value": "   "}}}
    assert errors_of(survey, text) == {
        "response_action": "errors",
        "errors": {"t": REQUIRED, "c": REQUIRED, "d9": REQUIRED},
    }


def test_number_out_of_range_and_not_a_number() -> None:
    survey = form_of(
        NumberField("days", "Days", min_value=1, max_value=25),
        NumberField("whole", "Whole"),
        NumberField("junk", "Junk", decimal=True),
    )
    state = {
        "days": {"days": {"type": "number_input", "value": "30"}},
        "whole": {"whole": {"type": "number_input", "value": "2.5"}},
        "junk": {"junk": {"type": "number_input", "value": "lots"}},
    }
    assert errors_of(survey, state)["errors"] == {
        "days": "Enter a number from 1 to 25.",
        "whole": "Enter a whole number.",
        "junk": "Enter a number.",
    }


def tier_state(field_id: str, tiers: str) -> JSON:
    ids = [field_id] + [f"{field_id}.c{i}" for i in range(2, 10)]
    option = {"text": {"type": "plain_text", "text": "x", "emoji": True}}
    return {
        block_id: {
            block_id: {"type": "static_select", "selected_option": {**option, "value": tier}}
        }
        for block_id, tier in zip(ids, tiers, strict=True)
    }


def test_ranking_tiers_must_match_the_shape() -> None:
    survey = form_of(RankingField("d9", "Diamond 9", items=NINE))
    assert errors_of(survey, tier_state("d9", "111223334"))["errors"] == {
        "d9": "Each tier takes a set number of items: tier 1 has 3, needs 1; tier 4 has 1, "
        "needs 2; tier 5 has 0, needs 1."
    }
    assert errors_of(survey, tier_state("d9", "122333445"))["errors"] == {}
    view = submission(modal(survey), state={"values": tier_state("d9", "122333445")})["view"]
    assert parse_submission(survey, view).values == {
        "d9": {"c1": 1, "c2": 2, "c3": 2, "c4": 3, "c5": 3, "c6": 3, "c7": 4, "c8": 4, "c9": 5}
    }
    # The person's view passes the same check before it is sent.
    placed = dict(zip(["d9"] + [f"d9.c{i}" for i in range(2, 10)], "111111111", strict=True))
    parsed = parse_submission(survey, submission(modal(survey), placed)["view"])
    assert parsed.errors["d9"].startswith("Each tier takes a set number of items")


def test_too_many_selections() -> None:
    survey = form_of(MultiChoiceField("m", "M", options=opts(4), max_selected=2))
    answers = {"m": ["v0", "v1", "v2"]}
    parsed = parse_submission(survey, submission(modal(survey), answers)["view"])
    assert errors_response(parsed.errors) == {
        "response_action": "errors",
        "errors": {"m": "Choose at most 2 (you chose 3)."},
    }
    # A multi-select enforces its maximum in the client already.
    many = form_of(MultiChoiceField("m", "M", options=opts(12), max_selected=2))
    with pytest.raises(SlackWouldRefuse):
        state_for(modal(many), answers)


def test_text_too_long_and_stale_choices() -> None:
    survey = form_of(
        TextField("t", "T", max_length=5),
        ChoiceField("c", "C", options=opts(2)),
        RagField("r", "R"),
        ScaleField("s", "S"),
        DateField("d", "D"),
        TimeField("h", "H"),
    )
    stale = {"text": {"type": "plain_text", "text": "Old", "emoji": True}, "value": "old"}
    state = {
        "t": {"t": {"type": "plain_text_input", "value": "toolong"}},
        "c": {"c": {"type": "radio_buttons", "selected_option": stale}},
        "r": {"r": {"type": "radio_buttons", "selected_option": stale}},
        "s": {"s": {"type": "radio_buttons", "selected_option": {**stale, "value": "9"}}},
        "d": {"d": {"type": "datepicker", "selected_date": "2026-02-30"}},
        "h": {"h": {"type": "timepicker", "selected_time": "25:00"}},
    }
    assert errors_of(survey, state)["errors"] == {
        "t": "Please keep this to 5 characters (it has 7).",
        "c": "Choose one of the options.",
        "r": "Choose red, amber or green.",
        "s": "Choose a point from 1 to 4.",
        "d": "Enter a date.",
        "h": "Enter a time.",
    }


def test_only_the_submitted_pages_fields_are_read_and_checked() -> None:
    survey = three_pages()
    view = submission(modal(survey, 2), {"note": "Thanks"})["view"]
    assert parse_submission(survey, view) == Submission(2, {"note": "Thanks"}, {})


def test_a_view_of_another_form_or_page_is_refused() -> None:
    survey = three_pages()
    other = Form(callback_id="other", title="Other", pages=survey.pages)
    nothing: JSON = {"values": {}}
    with pytest.raises(ValueError, match="not the form"):
        parse_submission(survey, submission(modal(other), state=nothing)["view"])
    view = submission(modal(survey), state=nothing)["view"]
    with pytest.raises(ValueError, match="which page"):
        parse_submission(survey, {**view, "private_metadata": "This is for you!"})
    forged = json.dumps({"form": "healthcheck.answer", "page": 7, "meta": ""})
    with pytest.raises(ValueError, match="no page 7"):
        parse_submission(survey, {**view, "private_metadata": forged})
    renamed = json.dumps({"form": "other", "page": 0, "meta": ""})
    with pytest.raises(ValueError, match="a page of 'other'"):
        parse_submission(survey, {**view, "private_metadata": renamed})


# --- round trips -----------------------------------------------------------------------------


def every_kind() -> Form:
    return Form(
        callback_id="all",
        title="Every kind",
        pages=(
            Page(
                "All",
                None,
                (
                    TextField("text", "Text", multiline=True),
                    ScaleField("scale", "Scale", point_labels=("a", "b", "c", "d")),
                    ScaleField("long_scale", "Long scale", low=0, high=10),
                    ChoiceField("choice", "Choice", options=opts(3)),
                    ChoiceField("big_choice", "Big choice", options=opts(30)),
                    SelectField("select", "Select", options=opts(150)),
                    MultiChoiceField("multi", "Multi", options=opts(5)),
                    MultiChoiceField("big_multi", "Big multi", options=opts(150)),
                    RagField("rag", "RAG"),
                    RankingField("d9", "Diamond 9", items=NINE),
                    DateField("date", "Date"),
                    TimeField("time", "Time"),
                    NumberField("int", "Int", min_value=-5, max_value=5),
                    NumberField("dec", "Dec", decimal=True),
                ),
            ),
        ),
    )


EVERY_KIND_VALUES: dict[str, FormValue] = {
    "text": "Line one\nline two & <three>",
    "scale": 2,
    "long_scale": 10,
    "choice": "v2",
    "big_choice": "v29",
    "select": "v120",
    "multi": ["v0", "v4"],
    "big_multi": ["v1", "v101", "v149"],
    "rag": Rag.GREEN,
    "d9": {"c1": 5, "c2": 4, "c3": 4, "c4": 3, "c5": 3, "c6": 3, "c7": 2, "c8": 2, "c9": 1},
    "date": date(2027, 1, 4),
    "time": time(7, 30),
    "int": -5,
    "dec": Decimal("-0.125"),
}


def test_every_kind_round_trips() -> None:
    survey = every_kind()
    view = check_view(modal(survey, 0, EVERY_KIND_VALUES))
    assert parse_submission(survey, submission(view)["view"]) == Submission(
        0, EVERY_KIND_VALUES, {}
    )


def words(max_size: int, min_size: int = 1) -> st.SearchStrategy[str]:
    alphabet = st.characters(blacklist_categories=("Cs", "Cc"))
    text = st.text(alphabet, min_size=min_size, max_size=max_size)
    return text.filter(lambda s: s == s.strip())


def labels(max_size: int) -> st.SearchStrategy[str]:
    """Mostly short labels, sometimes ones long enough to be clipped."""
    return words(max_size) | words(max_size, min_size=max_size // 2)


def option_sets(max_options: int) -> st.SearchStrategy[tuple[Option, ...]]:
    return st.integers(min_value=1, max_value=max_options).flatmap(
        lambda n: st.lists(labels(120), min_size=n, max_size=n).map(
            lambda labels: tuple(Option(f"o{i}", label) for i, label in enumerate(labels))
        )
    )


@st.composite
def field_and_value(draw: st.DrawFn, i: int) -> tuple[Field, FormValue]:
    """A field of any kind with id f<i>, and a valid answer to it."""
    fid = f"f{i}"
    label = draw(words(60))
    kind = draw(st.sampled_from(range(10)))
    if kind == 0:
        limit = draw(st.none() | st.integers(min_value=1, max_value=300))
        text = draw(words(limit or 300))
        multiline = draw(st.booleans())
        if not multiline:
            text = " ".join(text.split()) or "x"
        return TextField(fid, label, multiline=multiline, max_length=limit), text
    if kind == 1:
        low = draw(st.integers(min_value=-5, max_value=5))
        high = draw(st.integers(min_value=low + 1, max_value=low + 20))
        labelled = draw(st.booleans())
        names = tuple(draw(labels(90)) for _ in range(high - low + 1)) if labelled else ()
        field = ScaleField(fid, label, low=low, high=high, point_labels=names)
        return field, draw(st.integers(min_value=low, max_value=high))
    if kind in (2, 3):
        options = draw(option_sets(150))
        cls = ChoiceField if kind == 2 else SelectField
        return cls(fid, label, options=options), draw(st.sampled_from(options)).value
    if kind == 4:
        options = draw(option_sets(120))
        top = draw(st.integers(min_value=1, max_value=len(options)))
        chosen = draw(st.lists(st.sampled_from(options), min_size=1, max_size=top, unique=True))
        multi = MultiChoiceField(fid, label, options=options, max_selected=top)
        return multi, [o.value for o in options if o in chosen]
    if kind == 5:
        rag = RagField(fid, label, red=draw(labels(100)), amber="", green=draw(words(10)))
        return rag, draw(st.sampled_from(list(Rag)))
    if kind == 6:
        shape = tuple(draw(st.lists(st.integers(1, 3), min_size=2, max_size=5)))
        items = tuple(Option(f"i{k}", draw(words(40))) for k in range(sum(shape)))
        order = draw(st.permutations(items))
        tiers = [t for t, n in enumerate(shape, start=1) for _ in range(n)]
        ranking = RankingField(fid, label, items=items, shape=shape)
        return ranking, {item.value: tier for item, tier in zip(order, tiers, strict=True)}
    if kind == 7:
        return DateField(fid, label), draw(st.dates())
    if kind == 8:
        hour, minute = draw(st.integers(0, 23)), draw(st.integers(0, 59))
        return TimeField(fid, label), time(hour, minute)
    decimal = draw(st.booleans())
    if decimal:
        number = draw(st.decimals(-(10**6), 10**6, places=draw(st.integers(0, 4)), allow_nan=False))
        return NumberField(fid, label, decimal=True), number
    bound = draw(st.integers(min_value=0, max_value=10**6))
    whole = NumberField(fid, label, min_value=-bound, max_value=bound)
    return whole, draw(st.integers(min_value=-bound, max_value=bound))


@st.composite
def filled_forms(draw: st.DrawFn) -> tuple[Form, dict[str, FormValue]]:
    count = draw(st.integers(min_value=1, max_value=12))
    pairs = [draw(field_and_value(i)) for i in range(count)]
    pages = paginate(
        [f for f, _ in pairs],
        max_fields=draw(st.none() | st.integers(min_value=1, max_value=5)),
        title=draw(st.sampled_from(["", "Survey"])),
        intro=draw(st.none() | words(200)),
    )
    survey = Form(callback_id="survey", title=draw(words(24)), pages=pages)
    return survey, {f.id: v for f, v in pairs}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(filled_forms())
def test_any_form_round_trips_through_slack(case: tuple[Form, dict[str, FormValue]]) -> None:
    survey, values = case
    for n in range(survey.page_count):
        view = check_view(modal(survey, n, values))
        parsed = parse_submission(survey, submission(view)["view"])
        on_page = {f.id: values[f.id] for f in survey.page(n).fields}
        assert parsed == Submission(n, on_page, {})
