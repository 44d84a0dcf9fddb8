"""Replies as Adaptive Cards: every block kind, markdown escaping, buttons and what they send
back, files, and Teams' limits; every card checked against the Adaptive Card 1.5 schema."""

from __future__ import annotations

import base64
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft6Validator

from bot.types import (
    Actions,
    Attachment,
    BulletList,
    Button,
    Context,
    Divider,
    Fields,
    Heading,
    Paragraph,
    Reply,
)
from handlers.teams import cards
from handlers.teams.cards import (
    ADAPTIVE_CARD,
    CARD_SIZE_LIMIT,
    Pressed,
    attachment,
    card,
    card_size,
    clip_markdown,
    escape_markdown,
    invoke_card_response,
    invoke_message_response,
    markdown,
    message_activity,
    pressed,
)

JSON = dict[str, Any]
SCHEMA = (
    Path(__file__).parent.parent
    / "fixtures"
    / "teams"
    / "adaptive-card-schema"
    / "1.5.0"
    / "adaptive-card.json"
)
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@cache
def _validator() -> Draft6Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft6Validator.check_schema(schema)
    return Draft6Validator(schema)


def check_card(rendered: JSON) -> JSON:
    """The card, after checking it against the AC 1.5 schema and Teams' size limit.

    The schema knows no host extensions: Teams' `msteams` is taken off first.
    """
    assert rendered["msteams"] == {"width": "Full"}
    errors = list(_validator().iter_errors({k: v for k, v in rendered.items() if k != "msteams"}))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    assert card_size(rendered) <= CARD_SIZE_LIMIT
    return rendered


def body_of(*blocks: Any, **reply: Any) -> list[JSON]:
    body: list[JSON] = check_card(card(Reply("summary", blocks, **reply)))["body"]
    return body


def actions_in(body: list[JSON]) -> list[JSON]:
    return [a for e in body if e["type"] == "ActionSet" for a in e["actions"]]


def unescape(text: str) -> str:
    """What a CommonMark reader shows for backslash escapes."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


# --- the card itself --------------------------------------------------------------------------


def test_card_is_adaptive_card_1_5_full_width_with_the_text_as_fallback() -> None:
    rendered = check_card(card(Reply("Your request was sent.", (Paragraph("Sent."),))))
    assert rendered == {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": "Sent.", "wrap": True}],
        "msteams": {"width": "Full"},
        "fallbackText": "Your request was sent.",
    }


def test_a_reply_without_blocks_shows_its_text() -> None:
    rendered = check_card(card(Reply("Nothing to do *today*.")))
    assert rendered["body"] == [
        {"type": "TextBlock", "text": "Nothing to do **today**.", "wrap": True}
    ]


def test_an_empty_reply_is_an_empty_card() -> None:
    rendered = check_card(card(Reply("")))
    assert rendered["body"] == [] and "fallbackText" not in rendered


def test_a_kitchen_sink_reply_is_valid() -> None:
    assert check_card(
        card(
            Reply(
                "All of it",
                (
                    Heading("Quadrant meeting"),
                    Paragraph("*Mid* quadrant, 3 partnerships"),
                    Divider(),
                    Fields((("Chair", "Dr Ada Lovelock"), ("When", "Tue 4 March, 16:00"))),
                    BulletList(("Colne Valley", "Harlow"), title="Partnerships"),
                    Context("Reference SR-12"),
                    Actions((Button("Claim", "support.claim", "12", "primary"),)),
                ),
                is_error=True,
                files=(Attachment("chart.png", "Chart", PNG, "image/png"),),
            )
        )
    )["body"]


# --- every block kind -------------------------------------------------------------------------


def test_heading_is_a_bold_medium_text_block() -> None:
    assert body_of(Heading("  Support   requests ")) == [
        {
            "type": "TextBlock",
            "text": "Support requests",
            "wrap": True,
            "weight": "Bolder",
            "size": "Medium",
        }
    ]


def test_heading_markup_shows_as_typed() -> None:
    [heading] = body_of(Heading("- *Draft* [1]"))
    assert heading["text"] == "\\- \\*Draft\\* \\[1\\]"


def test_paragraph_bold_becomes_double_stars() -> None:
    [block] = body_of(Paragraph("The *Mid* quadrant meets on *Tuesday 4 March*."))
    assert block == {
        "type": "TextBlock",
        "text": "The **Mid** quadrant meets on **Tuesday 4 March**.",
        "wrap": True,
    }


def test_paragraph_line_breaks_are_kept_as_blank_lines() -> None:
    [block] = body_of(Paragraph("Line one\nLine two"))
    assert block["text"] == "Line one\n\nLine two"


def test_fields_are_a_fact_set() -> None:
    [facts] = body_of(Fields((("URN", "115204"), ("Partnership", "Colne_Valley"))))
    assert facts == {
        "type": "FactSet",
        "facts": [
            {"title": "URN", "value": "115204"},
            {"title": "Partnership", "value": "Colne\\_Valley"},
        ],
    }


def test_empty_fields_render_nothing() -> None:
    assert body_of(Fields(())) == []


def test_bullet_list_with_title_is_a_bold_line_and_a_markdown_list() -> None:
    assert body_of(BulletList(("Colne Valley", "*Harlow* schools"), title="Partnerships")) == [
        {"type": "TextBlock", "text": "Partnerships", "wrap": True, "weight": "Bolder"},
        {"type": "TextBlock", "text": "- Colne Valley\r- **Harlow** schools", "wrap": True},
    ]


def test_bullet_items_stay_one_item_each() -> None:
    [block] = body_of(BulletList(("first\n- not a new item", "- dash first")))
    assert block["text"] == "- first - not a new item\r- \\- dash first"


def test_bullet_list_without_items_shows_its_title_only() -> None:
    assert [b["text"] for b in body_of(BulletList((), title="None yet"))] == ["None yet"]


def test_context_is_small_subtle_text() -> None:
    assert body_of(Context("Reference *SR-12*")) == [
        {
            "type": "TextBlock",
            "text": "Reference **SR-12**",
            "wrap": True,
            "isSubtle": True,
            "size": "Small",
        }
    ]


def test_divider_is_a_separator_on_the_next_element() -> None:
    body = body_of(Paragraph("a"), Divider(), Divider(), Paragraph("b"), Divider())
    assert [(b["text"], b.get("separator")) for b in body] == [("a", None), ("b", True)]


def test_divider_at_the_start_draws_nothing() -> None:
    assert body_of(Divider(), Paragraph("a")) == [{"type": "TextBlock", "text": "a", "wrap": True}]


def test_divider_before_buttons_separates_the_action_set() -> None:
    body = body_of(Paragraph("a"), Divider(), Actions((Button("Go", "go"),)))
    assert body[1]["type"] == "ActionSet" and body[1]["separator"] is True


def test_an_error_reply_is_in_an_attention_container() -> None:
    [container] = body_of(Paragraph("You cannot claim this."), is_error=True)
    assert container == {
        "type": "Container",
        "style": "attention",
        "items": [{"type": "TextBlock", "text": "You cannot claim this.", "wrap": True}],
    }


# --- markdown ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("2 * 3 * 4", "2 \\* 3 \\* 4"),
        ("snake_case and __init__", "snake\\_case and \\_\\_init\\_\\_"),
        ("[link](https://example.org)", "\\[link\\](https://example.org)"),
        ("C:\\temp\\*", "C:\\\\temp\\\\\\*"),
        ("`code` ~strike~", "\\`code\\` \\~strike\\~"),
        ("{{DATE(2025-03-04T16:00:00Z, SHORT)}}", "{\\{DATE(2025-03-04T16:00:00Z, SHORT)}}"),
        ("- not a list", "\\- not a list"),
        ("+ nor this", "\\+ nor this"),
        ("12. nor a numbered list", "12\\. nor a numbered list"),
        ("3) nor this", "3\\) nor this"),
        ("# not a heading", "\\# not a heading"),
        ("A - B and 1. C", "A - B and 1. C"),
        ("**not bold**", "\\*\\*not bold\\*\\*"),
        ("* spaced *", "\\* spaced \\*"),
        ("a*b*c", "a\\*b\\*c"),
        ("*bold* then a*star", "**bold** then a\\*star"),
        ("*R_D*", "**R\\_D**"),
    ],
)
def test_markdown_shows_text_as_typed_and_honours_bold(typed: str, shown: str) -> None:
    assert markdown(typed) == shown


@given(st.text())
def test_escaped_text_reads_back_as_typed(text: str) -> None:
    escaped = escape_markdown(text)
    assert unescape(escaped) == text
    # Every markup character is behind a backslash.
    assert not re.search(r"(?<!\\)(?:\\\\)*[*_\[\]`~]", escaped.replace("\\\\", ""))


@given(st.text(min_size=1), st.integers(min_value=4, max_value=200))
def test_clipped_markdown_is_short_and_well_formed(text: str, limit: int) -> None:
    whole = markdown(text)
    clipped = clip_markdown(whole, limit)
    if len(whole) <= limit:
        assert clipped == whole
    else:
        assert len(clipped) <= limit and "…" in clipped[-3:]
        body = clipped[: clipped.rindex("…")]
        lone = len(body) - len(body.rstrip("\\"))
        assert lone % 2 == 0  # no backslash left to escape the ellipsis
        stars = len(re.findall(r"\*", re.sub(r"\\.", "", clipped)))
        assert stars % 4 == 0  # every bold span closed


# --- buttons ----------------------------------------------------------------------------------


def test_a_button_is_an_execute_action_with_a_submit_fallback() -> None:
    [action] = actions_in(body_of(Actions((Button("Claim", "support.claim", "12", "primary"),))))
    data = {"slis": {"action": "support.claim", "value": "12"}}
    assert action == {
        "type": "Action.Execute",
        "title": "Claim",
        "verb": "support.claim",
        "data": data,
        "style": "positive",
        "fallback": {"type": "Action.Submit", "title": "Claim", "data": data, "style": "positive"},
    }


@pytest.mark.parametrize(
    ("style", "shown"), [("primary", "positive"), ("danger", "destructive"), (None, None)]
)
def test_button_styles(style: str | None, shown: str | None) -> None:
    [action] = actions_in(body_of(Actions((Button("Go", "go", style=style),))))
    assert action.get("style") == shown and action["fallback"].get("style") == shown


def test_an_unknown_button_style_is_left_out() -> None:
    [action] = actions_in(body_of(Actions((Button("Go", "go", style="loud"),))))
    assert "style" not in action


def test_more_than_six_buttons_are_split_into_rows_of_six() -> None:
    buttons = tuple(Button(f"School {i}", f"pick.{i}", str(i)) for i in range(14))
    body = body_of(Actions(buttons))
    assert [len(s["actions"]) for s in body] == [6, 6, 2]
    assert [a["verb"] for a in actions_in(body)] == [f"pick.{i}" for i in range(14)]


@pytest.mark.parametrize("which", ["execute", "submit"])
def test_pressed_reads_back_the_button(which: str) -> None:
    button = Button("Decline", "support.decline", "SR-12,urgent")
    [action] = actions_in(body_of(Actions((button,))))
    sent = action["data"] if which == "execute" else action["fallback"]["data"]
    # Teams adds its own keys beside ours in a Submit message's value.
    data = {**sent, "msteams": {"type": "messageBack"}} if which == "submit" else sent
    assert pressed(data) == Pressed("support.decline", "SR-12,urgent")


def test_pressed_takes_a_missing_value_as_empty() -> None:
    assert pressed({"slis": {"action": "help"}}) == Pressed("help", "")


@pytest.mark.parametrize(
    "data",
    [
        None,
        "slis",
        ["slis"],
        {},
        {"slis": None},
        {"slis": "support.claim"},
        {"slis": {"value": "12"}},
        {"slis": {"action": ""}},
        {"slis": {"action": 12, "value": "12"}},
        {"slis": {"action": "support.claim", "value": 12}},
        {"slis": {"action": ["support.claim"]}},
        {"slis_form": {"callback_id": "x", "page": 0, "metadata": ""}},
    ],
)
def test_pressed_is_none_for_anything_else(data: object) -> None:
    assert pressed(data) is None


class _Hostile(dict[str, Any]):
    """A mapping whose methods all raise, as a decoder might hand over."""

    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("get")

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("getitem")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(
    st.one_of(
        JSON_VALUES,
        st.dictionaries(st.just("slis"), JSON_VALUES),
        st.fixed_dictionaries(
            {"slis": st.dictionaries(st.sampled_from(["action", "value", "x"]), JSON_VALUES)}
        ),
        st.builds(lambda d: _Hostile(slis=_Hostile(action="a", value="b")), st.none()),
        st.builds(object),
    )
)
def test_pressed_never_raises(data: object) -> None:
    result = pressed(data)
    assert result is None or (isinstance(result.action, str) and isinstance(result.value, str))


@given(st.text(min_size=1), st.text())
def test_any_button_reads_back(action_id: str, value: str) -> None:
    [action] = cards.action_sets([cards.button_action(Button("B", action_id, value))])[0]["actions"]
    # What Teams sends back has been through JSON.
    assert pressed(json.loads(json.dumps(action["data"]))) == Pressed(action_id, value)


# --- the activity and invoke responses --------------------------------------------------------


def test_message_activity_carries_the_card_and_the_text_as_summary_only() -> None:
    reply = Reply("Support request SR-12 was claimed.", (Paragraph("Claimed."),))
    activity = message_activity(reply)
    assert activity == {
        "type": "message",
        "summary": "Support request SR-12 was claimed.",
        "attachments": [{"contentType": ADAPTIVE_CARD, "content": card(reply)}],
    }
    assert "text" not in activity  # Teams would show it as a second bubble


def test_message_activity_without_text_has_no_summary() -> None:
    assert "summary" not in message_activity(Reply("", (Paragraph("x"),)))


def test_a_long_summary_is_clipped() -> None:
    summary = message_activity(Reply("x" * 5000))["summary"]
    assert len(summary) == cards.SUMMARY_LIMIT and summary.endswith("…")


def test_attachment_wraps_a_card() -> None:
    assert attachment({"type": "AdaptiveCard"}) == {
        "contentType": "application/vnd.microsoft.card.adaptive",
        "content": {"type": "AdaptiveCard"},
    }


def test_invoke_responses() -> None:
    rendered = card(Reply("Done"))
    assert invoke_card_response(rendered) == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.card.adaptive",
        "value": rendered,
    }
    assert invoke_message_response("Saved") == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": "Saved",
    }


# --- files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("media_type", ["image/png", "image/jpeg"])
def test_a_small_image_goes_into_the_card(media_type: str) -> None:
    chart = Attachment("chart.png", "Healthcheck chart", PNG, media_type)
    body = body_of(Paragraph("Your chart"), files=(chart,))
    assert body[1]["type"] == "Image" and body[1]["altText"] == "Healthcheck chart"
    prefix = f"data:{media_type};base64,"
    assert body[1]["url"].startswith(prefix)
    assert base64.b64decode(body[1]["url"][len(prefix) :]) == PNG


def test_other_files_are_listed_as_not_available() -> None:
    export = Attachment("healthcheck_2025.xlsx", "Healthcheck export", b"PK..", "text/csv")
    [_, line] = body_of(Paragraph("Your export"), files=(export,))
    assert line == {
        "type": "TextBlock",
        "text": "Healthcheck export (healthcheck\\_2025.xlsx) — not available in Teams",
        "wrap": True,
        "isSubtle": True,
        "size": "Small",
    }


def test_an_image_over_a_megabyte_is_listed_not_inlined() -> None:
    big = Attachment("big.png", "Big chart", PNG + bytes(1024 * 1024), "image/png")
    [_, line] = body_of(files=(big,))
    assert line["type"] == "TextBlock" and line["text"].endswith("not available in Teams")


def test_a_megabyte_image_is_not_counted_against_the_card_limit() -> None:
    image = Attachment("chart.png", "Chart", PNG + bytes(1024 * 1024 - len(PNG)), "image/png")
    rendered = check_card(card(Reply("Chart", files=(image,))))
    assert len(json.dumps(rendered)) > 1024 * 1024 > CARD_SIZE_LIMIT
    assert rendered["body"][1]["type"] == "Image"


def test_files_of_an_error_reply_are_in_its_container() -> None:
    [container] = body_of(files=(Attachment("a.csv", "A", b"x", "text/csv"),), is_error=True)
    assert container["style"] == "attention"
    assert [i["text"] for i in container["items"]] == [
        "summary",
        "A (a.csv) — not available in Teams",
    ]


# --- Teams' size limit ------------------------------------------------------------------------


def test_a_long_paragraph_is_clipped_to_fit_and_buttons_stay_whole() -> None:
    buttons = tuple(Button(f"Option {i}", f"pick.{i}", "v" * 200) for i in range(10))
    body = body_of(Heading("Report"), Paragraph("Lorem ipsum " * 5000), Actions(buttons))
    assert body[1]["text"].endswith("…")
    assert actions_in(body) == actions_in(card(Reply("", (Actions(buttons),)))["body"])  # untouched


def test_clipping_takes_the_longest_text_first() -> None:
    body = body_of(Paragraph("Short and kept."), Paragraph("é" * 40_000))
    assert body[0]["text"] == "Short and kept." and body[1]["text"].endswith("…")


def test_clipping_keeps_bold_spans_closed() -> None:
    [block] = body_of(Paragraph("*" + "bold " * 10_000 + "end*"))
    assert block["text"].startswith("**bold") and block["text"].endswith("…**")


def test_too_many_short_facts_give_way_to_more() -> None:
    pairs = tuple((f"School {i}", f"URN {100000 + i}") for i in range(3000))
    body = body_of(Paragraph("Schools"), Fields(pairs), Actions((Button("Export", "export"),)))
    assert [b["type"] for b in body] == ["TextBlock", "TextBlock", "ActionSet"]
    assert body[1]["text"] == "…more"
    assert actions_in(body)[0]["verb"] == "export"


def test_buttons_alone_over_the_limit_are_an_error() -> None:
    buttons = tuple(Button(f"B{i}", f"act.{i}", "v" * 1000) for i in range(40))
    with pytest.raises(ValueError, match="28 KB"):
        card(Reply("", (Paragraph("x"), Actions(buttons))))


@given(
    st.lists(
        st.one_of(
            st.builds(Paragraph, st.text(max_size=3000)),
            st.builds(Heading, st.text(max_size=500)),
            st.builds(Context, st.text(max_size=2000)),
            st.builds(BulletList, st.lists(st.text(max_size=2000), max_size=5).map(tuple)),
            st.builds(
                Fields,
                st.lists(st.tuples(st.text(max_size=500), st.text(max_size=2000)), max_size=8).map(
                    tuple
                ),
            ),
            st.just(Divider()),
        ),
        max_size=25,
    ),
    st.booleans(),
)
def test_any_reply_fits_and_is_valid(blocks: list[Any], is_error: bool) -> None:
    rendered = check_card(card(Reply("summary", tuple(blocks), is_error=is_error)))
    assert rendered["version"] == "1.5"
