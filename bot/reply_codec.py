"""A Reply as plain JSON and back, so it can wait in the outbox until it is sent.

Lossless for every block type in `bot.types`: `reply_from_json(reply_to_json(r)) == r`.
Small files (a meeting's .ics invitation) travel base64-encoded with the reply, up to
FILE_LIMIT bytes each and FILES_LIMIT together; anything larger (charts, exports) is refused
and goes straight to the asker's direct messages instead. The outbox takes a reply with files
only for a person, never for a channel (`bot.services.outbox.enqueue`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
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

# Bumped if the shape changes incompatibly; rows written before must still decode.
VERSION = 1
FILE_LIMIT = 64 * 1024
FILES_LIMIT = 128 * 1024


def reply_to_json(reply: Reply) -> dict[str, Any]:
    """The reply as a JSON-able dict; ValueError for a reply with files too large to wait in
    the outbox."""
    sizes = [len(f.content) for f in reply.files]
    if any(n > FILE_LIMIT for n in sizes) or sum(sizes) > FILES_LIMIT:
        names = ", ".join(f.filename for f in reply.files)
        raise ValueError(
            f"a reply with files ({names}) larger than {FILE_LIMIT // 1024} KiB each or"
            f" {FILES_LIMIT // 1024} KiB together cannot go through the outbox; deliver it to"
            " the person's direct messages instead"
        )
    data: dict[str, Any] = {
        "v": VERSION,
        "text": reply.text,
        "blocks": [_block_to_json(b) for b in reply.blocks],
        "private": reply.private,
        "is_error": reply.is_error,
    }
    if reply.files:
        data["files"] = [_file_to_json(f) for f in reply.files]
    return data


def reply_from_json(data: Mapping[str, Any]) -> Reply:
    """The reply a `reply_to_json` dict describes; ValueError if it is not one."""
    version = data.get("v")
    if version != VERSION:
        raise ValueError(f"unknown reply encoding version {version!r}")
    try:
        return Reply(
            text=_str(data["text"]),
            blocks=tuple(_block_from_json(b) for b in data.get("blocks", [])),
            private=bool(data.get("private", True)),
            is_error=bool(data.get("is_error", False)),
            files=tuple(_file_from_json(f) for f in data.get("files", [])),
        )
    except (KeyError, TypeError, binascii.Error) as exc:
        raise ValueError(f"malformed reply: {exc!r}") from None


def _file_to_json(file: Attachment) -> dict[str, Any]:
    return {
        "filename": file.filename,
        "title": file.title,
        "media_type": file.media_type,
        "content": base64.b64encode(file.content).decode("ascii"),
    }


def _file_from_json(data: Mapping[str, Any]) -> Attachment:
    return Attachment(
        filename=_str(data["filename"]),
        title=_str(data["title"]),
        content=base64.b64decode(_str(data["content"]), validate=True),
        media_type=_str(data["media_type"]),
    )


def _block_to_json(block: Block) -> dict[str, Any]:
    match block:
        case Heading(text=text):
            return {"type": "heading", "text": text}
        case Paragraph(text=text):
            return {"type": "paragraph", "text": text}
        case Fields(pairs=pairs):
            return {"type": "fields", "pairs": [[label, value] for label, value in pairs]}
        case BulletList(items=items, title=title):
            return {"type": "bullets", "items": list(items), "title": title}
        case Context(text=text):
            return {"type": "context", "text": text}
        case Divider():
            return {"type": "divider"}
        case Actions(buttons=buttons):
            return {"type": "actions", "buttons": [_button_to_json(b) for b in buttons]}
    raise TypeError(f"no JSON form for {type(block).__name__}")


def _button_to_json(button: Button) -> dict[str, Any]:
    return {
        "label": button.label,
        "action_id": button.action_id,
        "value": button.value,
        "style": button.style,
    }


def _block_from_json(data: Mapping[str, Any]) -> Block:
    kind = data.get("type")
    match kind:
        case "heading":
            return Heading(_str(data["text"]))
        case "paragraph":
            return Paragraph(_str(data["text"]))
        case "fields":
            return Fields(tuple((_str(label), _str(value)) for label, value in data["pairs"]))
        case "bullets":
            title = data.get("title")
            return BulletList(
                tuple(_str(i) for i in data["items"]), None if title is None else _str(title)
            )
        case "context":
            return Context(_str(data["text"]))
        case "divider":
            return Divider()
        case "actions":
            return Actions(tuple(_button_from_json(b) for b in data["buttons"]))
    raise ValueError(f"unknown block type {kind!r}")


def _button_from_json(data: Mapping[str, Any]) -> Button:
    style = data.get("style")
    return Button(
        label=_str(data["label"]),
        action_id=_str(data["action_id"]),
        value=_str(data.get("value", "")),
        style=None if style is None else _str(style),
    )


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value
