"""Adaptive Card renderers: a core Reply in, Teams JSON out. Pure functions, no I/O.

Cards are Adaptive Cards 1.5 (what Teams renders) and buttons are Universal Actions
(`Action.Execute`, which Teams answers with an `adaptiveCard/action` invoke), each with an
`Action.Submit` fallback for clients without them (those send a message activity whose `value`
is the button's data).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bot.types import (
    Actions,
    Attachment,
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

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
ACTIVITY_MESSAGE = "application/vnd.microsoft.activity.message"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"

# Teams' documented limits: a card's JSON stays under 28 KB (base64 images are not counted),
# an ActionSet shows at most 6 actions, an inline image is at most 1 MB.
CARD_SIZE_LIMIT = 28 * 1024
ACTIONS_PER_SET = 6
IMAGE_SIZE_LIMIT = 1024 * 1024
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg"})
# The summary travels outside the card but inside the same activity, whose own limit is the
# card's plus a little: keep it to a notification's worth.
SUMMARY_LIMIT = 1000
# A text is clipped no shorter than this while others are longer; below it, whole blocks go.
CLIP_FLOOR = 80

BUTTON_DATA_KEY = "slis"
ACTION_STYLES = {"primary": "positive", "danger": "destructive"}
ELLIPSIS = "…"
MORE = "…more"
NOT_IN_TEAMS = "not available in Teams"

JSON = dict[str, Any]


@dataclass(frozen=True)
class Pressed:
    """One of our buttons, pressed: its action id and value."""

    action: str
    value: str


# --- markdown ---------------------------------------------------------------------------------

# Characters the Adaptive Card markdown subset (CommonMark) would read as markup, and "{{",
# which starts a DATE()/TIME() function.
_SPECIAL = re.compile(r"[\\*_\[\]`~]|(?<=\{)\{")
# What would start a list item or a heading at the beginning of a line.
_LINE_MARKER = re.compile(r"^(\s*)(?:([-+]|#{1,6})|(\d{1,9})([.)]))(?=\s|$)")
# Our one piece of markup: `*bold*`, as Slack reads it (no space inside the stars).
_BOLD = re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]*?[^\s*])\*(?![\w*])")


def escape_markdown(text: str) -> str:
    """Text that Teams shows as typed: markup characters escaped with a backslash."""
    return _SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def _guard_line(line: str) -> str:
    """Escape a list or heading marker at the start of an (already escaped) line."""

    def guard(m: re.Match[str]) -> str:
        if m.group(2):
            return f"{m.group(1)}\\{m.group(2)}"
        return f"{m.group(1)}{m.group(3)}\\{m.group(4)}"

    return _LINE_MARKER.sub(guard, line, count=1)


def inline_markdown(line: str) -> str:
    """One line of our text as Teams markdown: `*bold*` becomes `**bold**`, the rest is
    escaped so it shows as typed."""
    out: list[str] = []
    pos = 0
    for m in _BOLD.finditer(line):
        out.append(escape_markdown(line[pos : m.start()]))
        out.append(f"**{escape_markdown(m.group(1))}**")
        pos = m.end()
    out.append(escape_markdown(line[pos:]))
    return _guard_line("".join(out))


def markdown(text: str) -> str:
    """Our text as Teams markdown; each line break is kept (Teams needs a blank line)."""
    return "\n\n".join(inline_markdown(line) for line in text.splitlines())


def plain_markdown(text: str) -> str:
    """Text without our markup (titles, labels) as Teams markdown, shown exactly as typed."""
    return "\n\n".join(_guard_line(escape_markdown(line)) for line in text.splitlines())


def clip_markdown(text: str, limit: int) -> str:
    """Markdown cut to at most `limit` characters ending in "…", never inside an escape and
    with an open bold span closed."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 3)]
    stars, escaping = 0, False
    for char in cut:
        if escaping:
            escaping = False
        elif char == "\\":
            escaping = True
        elif char == "*":
            stars += 1
    if escaping:  # the cut fell between a backslash and the character it escapes
        cut = cut[:-1]
    elif stars % 2:  # the cut fell between the two stars of "**"
        cut = cut[:-1]
        stars -= 1
    return cut + ELLIPSIS + ("**" if stars % 4 else "")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


# --- elements ---------------------------------------------------------------------------------


def text_block(text: str, **style: Any) -> JSON:
    """A wrapping TextBlock of markdown `text`."""
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def heading_block(text: str) -> JSON:
    """A heading: one line of bold, medium-sized text, shown as typed."""
    return text_block(
        plain_markdown(" ".join(text.split()) or ELLIPSIS), weight="Bolder", size="Medium"
    )


def context_block(text: str) -> JSON:
    """Small print: subtle, small markdown `text`."""
    return text_block(text, isSubtle=True, size="Small")


def _fields(block: Fields) -> JSON:
    return {
        "type": "FactSet",
        "facts": [
            {"title": markdown(label), "value": markdown(value)} for label, value in block.pairs
        ],
    }


def _bullets(block: BulletList) -> list[JSON]:
    rendered: list[JSON] = []
    if block.title:
        rendered.append(text_block(markdown(block.title), weight="Bolder"))
    if block.items:
        # Teams separates list items with "\r"; a line break inside an item would end it.
        lines = ("- " + inline_markdown(" ".join(item.split())) for item in block.items)
        rendered.append(text_block("\r".join(lines)))
    return rendered


def execute_action(title: str, verb: str, data: JSON, **extra: Any) -> JSON:
    """An `Action.Execute` with an `Action.Submit` fallback carrying the same title and data."""
    fallback: JSON = {"type": "Action.Submit", "title": title, "data": data, **extra}
    return {
        "type": "Action.Execute",
        "title": title,
        "verb": verb,
        "data": data,
        **extra,
        "fallback": fallback,
    }


def button_action(button: Button) -> JSON:
    """A button as an Action.Execute whose verb is its action id."""
    extra: JSON = {}
    if button.style in ACTION_STYLES:
        extra["style"] = ACTION_STYLES[button.style]
    data = {BUTTON_DATA_KEY: {"action": button.action_id, "value": button.value}}
    return execute_action(button.label, button.action_id, data, **extra)


def action_sets(actions: list[JSON]) -> list[JSON]:
    """The actions in rows of at most six (more are hidden by Teams)."""
    return [
        {"type": "ActionSet", "actions": actions[i : i + ACTIONS_PER_SET]}
        for i in range(0, len(actions), ACTIONS_PER_SET)
    ]


def _render(block: Block) -> list[JSON]:
    match block:
        case Heading():
            return [heading_block(block.text)]
        case Paragraph():
            return [text_block(markdown(block.text))]
        case Fields():
            return [_fields(block)] if block.pairs else []
        case BulletList():
            return _bullets(block)
        case Context():
            return [context_block(markdown(block.text))]
        case Divider():
            return [{"type": "Divider"}]  # placeholder, folded into the next element
        case Actions():
            return action_sets([button_action(b) for b in block.buttons])
    raise TypeError(f"no Teams rendering for {type(block).__name__}")


def _fold_dividers(elements: list[JSON]) -> list[JSON]:
    """A divider becomes `separator: true` on the element after it (none at the start)."""
    body: list[JSON] = []
    separate = False
    for element in elements:
        if element["type"] == "Divider":
            separate = bool(body)
            continue
        if separate:
            element = {**element, "separator": True}
            separate = False
        body.append(element)
    return body


def _file_element(file: Attachment) -> JSON:
    if file.media_type in INLINE_IMAGE_TYPES and len(file.content) <= IMAGE_SIZE_LIMIT:
        encoded = base64.b64encode(file.content).decode("ascii")
        return {
            "type": "Image",
            "url": f"data:{file.media_type};base64,{encoded}",
            "altText": file.title,
        }
    # Other files need Teams' file-consent card and a OneDrive upload, which this bot does not
    # do: say so rather than drop them silently.
    return context_block(plain_markdown(f"{file.title} ({file.filename}) — {NOT_IN_TEAMS}"))


# --- the card ---------------------------------------------------------------------------------


def adaptive_card(body: list[JSON], *, fallback_text: str = "") -> JSON:
    """An Adaptive Card 1.5, full width in Teams, around `body`."""
    rendered: JSON = {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if fallback_text:
        rendered["fallbackText"] = fallback_text
    return rendered


def card_size(card: JSON) -> int:
    """The card's size as Teams counts it: its JSON in UTF-8, without base64 image data."""

    def without_images(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("type") == "Image" and str(node.get("url", "")).startswith("data:"):
                node = {**node, "url": ""}
            return {k: without_images(v) for k, v in node.items()}
        if isinstance(node, list):
            return [without_images(v) for v in node]
        return node

    text = json.dumps(without_images(card), ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8"))


def _texts(elements: list[JSON]) -> Iterator[tuple[JSON, str]]:
    """Every markdown string in the elements that may be clipped: (holder, key)."""
    for element in elements:
        if element["type"] == "TextBlock":
            yield element, "text"
        elif element["type"] == "FactSet":
            for fact in element["facts"]:
                yield fact, "title"
                yield fact, "value"


def fit(body: list[JSON], build: Callable[[list[JSON]], JSON]) -> JSON:
    """`build(body)`, made to fit Teams' card size: the longest texts are clipped first, then
    text blocks at the end give way to "…more". Buttons are never cut.

    ValueError if the buttons alone are too many for a card.
    """
    card = build(body)
    excess = card_size(card) - CARD_SIZE_LIMIT
    while excess > 0:
        holder, key = max(_texts(body), key=lambda t: len(t[0][t[1]]), default=({}, ""))
        longest = len(holder.get(key, ""))
        if longest <= CLIP_FLOOR:
            break
        holder[key] = clip_markdown(holder[key], max(CLIP_FLOOR, longest - excess - 8))
        card = build(body)
        excess = card_size(card) - CARD_SIZE_LIMIT
    if excess > 0:
        body = _drop_tail(body, build)
        card = build(body)
    return card


def _drop_tail(body: list[JSON], build: Callable[[list[JSON]], JSON]) -> list[JSON]:
    kept = list(body)
    marker = context_block(escape_markdown(MORE))
    while card_size(build(kept)) > CARD_SIZE_LIMIT:
        droppable = [i for i, e in enumerate(kept) if e["type"] != "ActionSet" and e is not marker]
        if not droppable:
            raise ValueError("the card's buttons alone are over Teams' 28 KB card limit")
        at = droppable[-1]
        del kept[at]
        if not any(e is marker for e in kept):
            kept.insert(at, marker)
    return kept


def card(reply: Reply) -> JSON:
    """The reply as an Adaptive Card: its blocks (or its text, when it has none) and its
    files; an error reply is marked out in an "attention" container."""
    source = reply.blocks or ((Paragraph(reply.text),) if reply.text else ())
    body = _fold_dividers([out for block in source for out in _render(block)])
    files = [_file_element(f) for f in reply.files]

    def build(elements: list[JSON]) -> JSON:
        content = elements + files
        if reply.is_error:
            content = [{"type": "Container", "style": "attention", "items": content}]
        return adaptive_card(content, fallback_text=_clip(reply.text, SUMMARY_LIMIT))

    return fit(body, build)


def attachment(card: JSON) -> JSON:
    """A card as a Bot Framework attachment."""
    return {"contentType": ADAPTIVE_CARD, "content": card}


def message_activity(reply: Reply) -> JSON:
    """The message activity to post for a reply: the card, with the reply's text as the
    summary Teams shows in notifications and the chat list (not as a second bubble)."""
    activity: JSON = {"type": "message", "attachments": [attachment(card(reply))]}
    if reply.text:
        activity["summary"] = _clip(reply.text, SUMMARY_LIMIT)
    return activity


def invoke_card_response(card: JSON) -> JSON:
    """The answer to an `adaptiveCard/action` invoke that replaces the card in place."""
    return {"statusCode": 200, "type": ADAPTIVE_CARD, "value": card}


def invoke_message_response(text: str) -> JSON:
    """The answer to an `adaptiveCard/action` invoke that shows a short message instead."""
    return {"statusCode": 200, "type": ACTIVITY_MESSAGE, "value": text}


# --- buttons pressed --------------------------------------------------------------------------


def pressed(data: object) -> Pressed | None:
    """The button an Action.Execute invoke (`value.action.data`) or an Action.Submit message
    (`value`) came from; None when it is not one of ours. Never raises: the data is the
    sender's to choose."""
    if not isinstance(data, dict):
        return None
    ours = dict.get(data, BUTTON_DATA_KEY)
    if not isinstance(ours, dict):
        return None
    action, value = dict.get(ours, "action"), dict.get(ours, "value", "")
    if not isinstance(action, str) or not action or not isinstance(value, str):
        return None
    return Pressed(str(action), str(value))
