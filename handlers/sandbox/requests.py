"""Reading request bodies as Slack's clients send them: query string, form fields or JSON,
with some fields (blocks, views, metadata, files) JSON-encoded inside a form."""

from __future__ import annotations

import email.parser
import email.policy
import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

# Fields slack_sdk sends as JSON text when the body is a form.
JSON_FIELDS = ("blocks", "view", "metadata", "files", "attachments", "errors")


class BadBody(ValueError):
    """A body that is not what its content type says."""


async def slack_params(request: Request) -> dict[str, Any]:
    """Every argument of a Web API call, from the query string and the body."""
    params: dict[str, Any] = dict(request.query_params)
    raw = await request.body()
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if raw:
        if kind == "application/json":
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise BadBody("invalid_json") from None
            if not isinstance(body, dict):
                raise BadBody("invalid_json")
            params.update(body)
        elif kind in ("application/x-www-form-urlencoded", ""):
            params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        elif kind == "multipart/form-data":
            params.update(_form_fields(request.headers["content-type"], raw))
    for name in JSON_FIELDS:
        value = params.get(name)
        if isinstance(value, str) and value.strip():
            try:
                params[name] = json.loads(value)
            except json.JSONDecodeError:
                raise BadBody(f"invalid_{name}") from None
    return params


def first_part(content_type: str, raw: bytes) -> bytes:
    """The bytes of a multipart body's first part (Slack's upload host takes the first file)."""
    for _name, payload in _parts(content_type, raw):
        return payload
    return b""


def _form_fields(content_type: str, raw: bytes) -> dict[str, str]:
    return {name: payload.decode("utf-8", "replace") for name, payload in _parts(content_type, raw)}


def _parts(content_type: str, raw: bytes) -> list[tuple[str, bytes]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not parsed.is_multipart():
        return []
    found: list[tuple[str, bytes]] = []
    for part in parsed.iter_parts():
        payload = part.get_payload(decode=True)
        name = part.get_param("name", header="content-disposition") or ""
        if isinstance(payload, bytes):
            found.append((str(name), payload))
    return found


async def json_object(request: Request) -> dict[str, Any]:
    """A JSON object body; raises BadBody otherwise."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadBody("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadBody("the body must be a JSON object")
    return body
