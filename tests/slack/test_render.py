"""The Block Kit renderers: every block type, escaping, splitting and Slack's limits."""

from __future__ import annotations

import json

import pytest

from bot.types import (
    Actions,
    BulletList,
    Button,
    Context,
    Divider,
    Fields,
    Heading,
    Paragraph,
    Reply,
)
from handlers.slack import render


def one(block: object) -> list[dict[str, object]]:
    return render.blocks(Reply("summary", (block,)))  # type: ignore[arg-type]


def section_texts(blocks: list[dict[str, object]]) -> list[str]:
    return [b["text"]["text"] for b in blocks]  # type: ignore[index]


# --- escaping --------------------------------------------------------------------------------


def test_escapes_the_three_reserved_characters_and_keeps_bold_and_code() -> None:
    [section] = one(Paragraph("*Heads & governors* use `<urn>` > 3 <@U123>"))
    assert section == {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": "*Heads &amp; governors* use `&lt;urn&gt;` &gt; 3 &lt;@U123&gt;",
        },
    }


def test_message_text_fallback_is_escaped() -> None:
    assert render.message(Reply("A & B <x>"))["text"] == "A &amp; B &lt;x&gt;"


def test_field_labels_and_values_are_escaped_and_labels_bold() -> None:
    [section] = one(Fields((("R&D", "<none>"),)))
    assert section["fields"] == [{"type": "mrkdwn", "text": "*R&amp;D*\n&lt;none&gt;"}]


# --- every block type -----------------------------------------------------------------------


def test_heading_is_a_plain_text_header() -> None:
    assert one(Heading("Great Oakley & Co")) == [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": "Great Oakley & Co", "emoji": True},
        }
    ]


def test_heading_is_clipped_to_150_characters() -> None:
    [header] = one(Heading("x" * 400))
    text = header["text"]["text"]  # type: ignore[index]
    assert len(text) == 150 and text.endswith("…")


def test_bullet_list_with_bold_title() -> None:
    [section] = one(BulletList(("Colne Valley", "Harlow"), title="Partnerships"))
    assert section_texts([section]) == ["*Partnerships*\n• Colne Valley\n• Harlow"]


def test_bullet_list_without_title() -> None:
    assert section_texts(one(BulletList(("a & b",)))) == ["• a &amp; b"]


def test_context_block() -> None:
    assert one(Context("Try `/slis help`")) == [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Try `/slis help`"}]}
    ]


def test_divider() -> None:
    assert one(Divider()) == [{"type": "divider"}]


def test_actions_buttons_with_value_and_style() -> None:
    [actions] = one(
        Actions(
            (
                Button("Claim", "brokerage.claim", "42", "primary"),
                Button("Decline", "brokerage.decline", style="danger"),
                Button("Later", "later", style="fancy"),
            )
        )
    )
    assert actions == {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Claim", "emoji": True},
                "action_id": "brokerage.claim",
                "value": "42",
                "style": "primary",
            },
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Decline", "emoji": True},
                "action_id": "brokerage.decline",
                "style": "danger",
            },
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Later", "emoji": True},
                "action_id": "later",
            },
        ],
    }


def test_more_than_25_buttons_make_several_actions_blocks() -> None:
    blocks = one(Actions(tuple(Button(f"b{i}", f"a{i}") for i in range(30))))
    assert [len(b["elements"]) for b in blocks] == [25, 5]  # type: ignore[arg-type]


def test_button_label_is_clipped_to_75() -> None:
    [actions] = one(Actions((Button("L" * 100, "a"),)))
    assert len(actions["elements"][0]["text"]["text"]) == 75  # type: ignore[index]


def test_reply_without_blocks_is_shown_as_its_text() -> None:
    assert section_texts(render.blocks(Reply("Just this"))) == ["Just this"]
    assert render.blocks(Reply("")) == []


def test_empty_paragraph_renders_nothing() -> None:
    assert one(Paragraph("")) == []


# --- splitting --------------------------------------------------------------------------------


def test_long_paragraph_is_split_into_sections_at_line_breaks() -> None:
    lines = [f"line {i:04d} " + "x" * 90 for i in range(80)]
    blocks = one(Paragraph("\n".join(lines)))
    texts = section_texts(blocks)
    assert len(texts) > 1
    assert all(len(t) <= 3000 for t in texts)
    assert "\n".join(texts) == "\n".join(lines)


def test_long_unbroken_text_is_split_without_cutting_an_entity() -> None:
    text = "&" * 2000  # escapes to 10 000 characters
    texts = section_texts(one(Paragraph(text)))
    assert all(len(t) <= 3000 for t in texts)
    assert all(t.count("&") == t.count("&amp;") for t in texts)
    assert "".join(texts) == "&amp;" * 2000


def test_split_text_prefers_spaces_when_there_is_no_line_break() -> None:
    pieces = render.split_text("word " * 1000, limit=100)
    assert all(len(p) <= 100 for p in pieces)
    assert all(not p.startswith(" ") and p.startswith("word") for p in pieces)


def test_more_than_ten_fields_make_several_sections() -> None:
    blocks = one(Fields(tuple((f"L{i}", f"v{i}") for i in range(23))))
    assert [len(b["fields"]) for b in blocks] == [10, 10, 3]  # type: ignore[arg-type]


def test_long_field_is_clipped_to_2000() -> None:
    [section] = one(Fields((("Notes", "n" * 5000),)))
    assert len(section["fields"][0]["text"]) == 2000  # type: ignore[index]


def test_long_bullet_list_is_split_and_every_item_kept() -> None:
    items = tuple(f"School number {i} — URN {100000 + i}" for i in range(400))
    blocks = one(BulletList(items, title="Member schools"))
    texts = section_texts(blocks)
    assert len(texts) > 1 and all(len(t) <= 3000 for t in texts)
    assert texts[0].startswith("*Member schools*\n• School number 0")
    lines = "\n".join(texts).split("\n")
    assert lines[1:] == [f"• {item}" for item in items]


def test_one_huge_bullet_is_split_too() -> None:
    texts = section_texts(one(BulletList(("y" * 7000,))))
    assert all(len(t) <= 3000 for t in texts) and "".join(texts) == "• " + "y" * 7000


def test_long_context_is_split_into_elements() -> None:
    [context] = one(Context("c " * 4000))
    elements = context["elements"]
    assert len(elements) == 3  # type: ignore[arg-type]
    assert all(len(e["text"]) <= 3000 for e in elements)  # type: ignore[index]


# --- limits -----------------------------------------------------------------------------------


def test_message_keeps_at_most_50_blocks_and_says_more() -> None:
    reply = Reply("many", tuple(Paragraph(f"p{i}") for i in range(70)))
    blocks = render.blocks(reply)
    assert len(blocks) == 50
    assert blocks[-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": "…more"}]}
    assert blocks[-2]["text"]["text"] == "p48"  # type: ignore[index]


def test_exactly_50_blocks_are_kept_whole() -> None:
    reply = Reply("many", tuple(Divider() for _ in range(50)))
    assert render.blocks(reply) == [{"type": "divider"}] * 50


def test_home_view_allows_100_blocks() -> None:
    reply = Reply("home", tuple(Divider() for _ in range(120)))
    view = render.home_view(reply)
    assert view["type"] == "home"
    assert len(view["blocks"]) == 100 and view["blocks"][-1]["type"] == "context"


# --- message envelopes ---------------------------------------------------------------------


@pytest.mark.parametrize(("private", "kind"), [(True, "ephemeral"), (False, "in_channel")])
def test_message_response_type_follows_privacy(private: bool, kind: str) -> None:
    reply = Reply("Hello", (Heading("Hi"), Paragraph("there")), private=private)
    message = render.message(reply)
    assert message["response_type"] == kind
    assert message["text"] == "Hello"
    assert message["blocks"] == render.blocks(reply)
    json.dumps(message)


def test_message_text_is_clipped() -> None:
    assert len(render.message(Reply("t" * 5000))["text"]) == 3000
