"""Block Kit renderers: a core Reply in, Slack JSON out. Pure functions, no I/O."""

from __future__ import annotations

from typing import Any

from bot.types import (
    Actions,
    Block,
    BulletList,
    Button,
    Context,
    Divider,
    Fields,
    Heading,
    Paragraph,
    Reply,
)

# Slack's documented limits (Block Kit reference).
MESSAGE_BLOCK_LIMIT = 50
HOME_BLOCK_LIMIT = 100
HEADER_LIMIT = 150
SECTION_TEXT_LIMIT = 3000
FIELD_TEXT_LIMIT = 2000
FIELDS_PER_SECTION = 10
CONTEXT_ELEMENT_LIMIT = 10
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
ACTION_ID_LIMIT = 255
BUTTONS_PER_ACTIONS = 25
MESSAGE_TEXT_LIMIT = 3000
BUTTON_STYLES = frozenset({"primary", "danger"})
ELLIPSIS = "…"
MORE = "…more"

JSON = dict[str, Any]


def escape(text: str) -> str:
    """Escape the three characters Slack mrkdwn reserves; `*bold*` and `code` pass through."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def _clip_escaped(text: str, limit: int) -> str:
    """Clip already-escaped text without cutting an entity such as `&amp;` in half."""
    if len(text) <= limit:
        return text
    cut = _safe_cut(text, limit - 1)
    return text[:cut] + ELLIPSIS


def _safe_cut(text: str, cut: int) -> int:
    amp = text.rfind("&", max(0, cut - 4), cut)
    if amp != -1 and ";" not in text[amp:cut]:
        return amp
    return cut


def split_text(text: str, limit: int = SECTION_TEXT_LIMIT) -> list[str]:
    """Split escaped text into pieces of at most `limit` characters, at a line break or a
    space in the second half of a piece where there is one, never inside an escaped entity."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", limit // 2, limit + 1)
        if cut == -1:
            cut = text.rfind(" ", limit // 2, limit + 1)
        if cut == -1:
            cut = _safe_cut(text, limit)
            pieces.append(text[:cut])
            text = text[cut:]
        else:
            pieces.append(text[:cut])
            text = text[cut + 1 :]
    if text:
        pieces.append(text)
    return pieces


def _mrkdwn(text: str) -> JSON:
    return {"type": "mrkdwn", "text": text}


def _plain(text: str) -> JSON:
    return {"type": "plain_text", "text": text, "emoji": True}


def _section(text: str) -> JSON:
    return {"type": "section", "text": _mrkdwn(text)}


def _heading(block: Heading) -> list[JSON]:
    text = " ".join(block.text.split()) or ELLIPSIS
    return [{"type": "header", "text": _plain(_clip(text, HEADER_LIMIT))}]


def _paragraph(block: Paragraph) -> list[JSON]:
    return [_section(piece) for piece in split_text(escape(block.text))]


def _fields(block: Fields) -> list[JSON]:
    rendered = [
        _mrkdwn(_clip_escaped(f"*{escape(label)}*\n{escape(value)}", FIELD_TEXT_LIMIT))
        for label, value in block.pairs
    ]
    return [
        {"type": "section", "fields": rendered[i : i + FIELDS_PER_SECTION]}
        for i in range(0, len(rendered), FIELDS_PER_SECTION)
    ]


def _bullets(block: BulletList) -> list[JSON]:
    lines: list[str] = []
    if block.title:
        lines.append(f"*{escape(block.title)}*")
    for item in block.items:
        lines.extend(split_text("• " + escape(item)))
    sections: list[JSON] = []
    current = ""
    for line in lines:
        if current and len(current) + 1 + len(line) > SECTION_TEXT_LIMIT:
            sections.append(_section(current))
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        sections.append(_section(current))
    return sections


def _context(block: Context) -> list[JSON]:
    pieces = split_text(escape(block.text))
    return [
        {"type": "context", "elements": [_mrkdwn(p) for p in pieces[i : i + CONTEXT_ELEMENT_LIMIT]]}
        for i in range(0, len(pieces), CONTEXT_ELEMENT_LIMIT)
    ]


def _button(button: Button) -> JSON:
    rendered: JSON = {
        "type": "button",
        "text": _plain(_clip(button.label, BUTTON_TEXT_LIMIT)),
        "action_id": button.action_id[:ACTION_ID_LIMIT],
    }
    if button.value:
        rendered["value"] = button.value[:BUTTON_VALUE_LIMIT]
    if button.style in BUTTON_STYLES:
        rendered["style"] = button.style
    return rendered


def _actions(block: Actions) -> list[JSON]:
    buttons = [_button(b) for b in block.buttons]
    return [
        {"type": "actions", "elements": buttons[i : i + BUTTONS_PER_ACTIONS]}
        for i in range(0, len(buttons), BUTTONS_PER_ACTIONS)
    ]


def _render(block: Block) -> list[JSON]:
    match block:
        case Heading():
            return _heading(block)
        case Paragraph():
            return _paragraph(block)
        case Fields():
            return _fields(block)
        case BulletList():
            return _bullets(block)
        case Context():
            return _context(block)
        case Divider():
            return [{"type": "divider"}]
        case Actions():
            return _actions(block)
    raise TypeError(f"no Slack rendering for {type(block).__name__}")


def blocks(reply: Reply, limit: int = MESSAGE_BLOCK_LIMIT) -> list[JSON]:
    """The reply as Block Kit blocks, at most `limit` of them (the last then says "…more").

    A reply without blocks is shown as its text.
    """
    source = reply.blocks or ((Paragraph(reply.text),) if reply.text else ())
    rendered = [out for block in source for out in _render(block)]
    if len(rendered) > limit:
        rendered = [*rendered[: limit - 1], {"type": "context", "elements": [_mrkdwn(MORE)]}]
    return rendered


def message(reply: Reply) -> JSON:
    """A slash-command response: only the asker sees it when the reply is private."""
    return {
        "response_type": "ephemeral" if reply.private else "in_channel",
        "text": _clip_escaped(escape(reply.text), MESSAGE_TEXT_LIMIT),
        "blocks": blocks(reply),
    }


def home_view(reply: Reply) -> JSON:
    """The App Home tab for `views.publish`."""
    return {"type": "home", "blocks": blocks(reply, HOME_BLOCK_LIMIT)}
