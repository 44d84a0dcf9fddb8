"""Every Block Kit type the bot's Slack renderers can emit is rendered by the sandbox's page,
in real Chromium; anything else is shown as unsupported, never dropped.

The types come from the renderers' source (every `"type": "<literal>"` in handlers/slack), so
a renderer that starts emitting a new type fails here until the sandbox shows it (add a sample
below and render it in handlers/sandbox/static/blockkit.js).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium, page

__all__ = ["chromium", "page"]

ROOT = Path(__file__).resolve().parents[2]
SLACK_RENDERERS = ROOT / "handlers" / "slack"
BLOCKKIT_JS = ROOT / "handlers" / "sandbox" / "static" / "blockkit.js"

TEXT = {"type": "plain_text", "text": "Pick one", "emoji": True}
OPTIONS = [
    {"text": {"type": "plain_text", "text": "Maths"}, "value": "maths"},
    {"text": {"type": "plain_text", "text": "English"}, "value": "english"},
]
GROUPS = [
    {"label": {"type": "plain_text", "text": "Core"}, "options": OPTIONS},
    {
        "label": {"type": "plain_text", "text": "Other"},
        "options": [{"text": {"type": "plain_text", "text": "SEND"}, "value": "send"}],
    },
]


def _input(element: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": f"b-{element['type']}",
        "label": {"type": "plain_text", "text": "A question"},
        "element": {"action_id": "a", **element},
    }


def _in_section(text: dict[str, Any]) -> dict[str, Any]:
    return {"type": "section", "text": text}


# A sample of each Block Kit type the sandbox must render, as a block to render. Blocks,
# elements (inside an input or actions block), text objects and the two view types.
SAMPLES: dict[str, dict[str, Any]] = {
    "section": {"type": "section", "text": {"type": "mrkdwn", "text": "*Bold* and _not_"}},
    "header": {"type": "header", "text": {"type": "plain_text", "text": "A heading"}},
    "divider": {"type": "divider"},
    "context": {"type": "context", "elements": [{"type": "mrkdwn", "text": "small print"}]},
    "actions": {
        "type": "actions",
        "elements": [{"type": "button", "text": TEXT, "action_id": "go", "style": "primary"}],
    },
    "image": {"type": "image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "alt_text": "a"},
    "input": _input({"type": "plain_text_input"}),
    "button": {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": TEXT,
                "action_id": "b",
                "style": "danger",
                "confirm": {
                    "title": {"type": "plain_text", "text": "Sure?"},
                    "text": {"type": "plain_text", "text": "It cannot be undone."},
                    "confirm": {"type": "plain_text", "text": "Yes"},
                    "deny": {"type": "plain_text", "text": "No"},
                },
            }
        ],
    },
    "plain_text_input": _input({"type": "plain_text_input", "multiline": True}),
    "number_input": _input({"type": "number_input", "is_decimal_allowed": False}),
    "static_select": _input(
        {"type": "static_select", "placeholder": TEXT, "option_groups": GROUPS}
    ),
    "multi_static_select": _input({"type": "multi_static_select", "options": OPTIONS}),
    "radio_buttons": _input({"type": "radio_buttons", "options": OPTIONS}),
    "checkboxes": _input({"type": "checkboxes", "options": OPTIONS}),
    "datepicker": _input({"type": "datepicker", "initial_date": "2026-11-30"}),
    "timepicker": _input({"type": "timepicker", "initial_time": "09:30"}),
    "overflow": {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "More"},
        "accessory": {"type": "overflow", "action_id": "o", "options": OPTIONS},
    },
    "plain_text": _in_section({"type": "plain_text", "text": "Plain & simple"}),
    "mrkdwn": _in_section({"type": "mrkdwn", "text": "<https://example.org|a link> `code`"}),
}
VIEW_TYPES = {"modal", "home"}  # views, rendered as the modal dialog and the Home tab


def emitted_types() -> set[str]:
    """Every literal `"type": "<x>"` in a dict the Slack renderers build."""
    found: set[str] = set()
    for path in sorted(SLACK_RENDERERS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Dict):
                continue
            for key, value in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and key.value == "type"
                    and isinstance(value, ast.Constant)
                    and isinstance(value.value, str)
                ):
                    found.add(value.value)
    return found


def declared(name: str) -> set[str]:
    """The types blockkit.js says it renders (its SUPPORTED_BLOCKS / SUPPORTED_ELEMENTS)."""
    source = BLOCKKIT_JS.read_text()
    match = re.search(rf"{name}\s*=\s*(?:Object\.freeze\()?\[(.*?)\]", source, re.S)
    assert match, f"blockkit.js declares no {name}"
    return set(re.findall(r"[\"']([a-z_]+)[\"']", match.group(1)))


def test_the_renderers_emit_only_types_with_a_sample_here() -> None:
    emitted = emitted_types()
    # The scan sees the renderers' real output: these are certainly among it.
    assert {"section", "actions", "button", "input", "modal", "home", "static_select"} <= emitted
    missing = emitted - set(SAMPLES) - VIEW_TYPES
    assert not missing, f"the Slack renderers emit {sorted(missing)}: add samples and render them"


def test_blockkit_js_declares_every_type_the_renderers_emit() -> None:
    supported = declared("SUPPORTED_BLOCKS") | declared("SUPPORTED_ELEMENTS")
    assert emitted_types() - VIEW_TYPES <= supported
    assert set(SAMPLES) <= supported


def render(page: Any, blocks: list[dict[str, Any]]) -> None:
    page.set_content('<!doctype html><html><body><div id="out"></div></body></html>')
    page.add_script_tag(path=str(BLOCKKIT_JS))
    page.evaluate(
        """blocks => {
            const out = document.getElementById("out");
            out.replaceChildren(BlockKit.renderBlocks(blocks, {inModal: true, people: []}));
        }""",
        blocks,
    )


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_the_page_renders_each_type(page: Any, kind: str) -> None:
    render(page, [SAMPLES[kind]])
    out = page.locator("#out")
    assert out.locator(".bk-unsupported").count() == 0, out.inner_html()
    shown = out.locator(f'[data-block-type="{kind}"], [data-element-type="{kind}"]')
    if kind in ("plain_text", "mrkdwn"):
        # Text objects are rendered as their text, inside the section.
        text = {"plain_text": "Plain & simple", "mrkdwn": "a link"}[kind]
        assert text in out.inner_text()
    else:
        assert shown.count() >= 1, f"{kind} not shown:\n{out.inner_html()}"
        assert shown.first.is_visible()


def test_every_type_renders_together_in_one_message(page: Any) -> None:
    render(page, list(SAMPLES.values()))
    out = page.locator("#out")
    assert out.locator(".bk-unsupported").count() == 0
    assert out.locator("[data-block-type]").count() >= len(SAMPLES)


@pytest.mark.parametrize(
    ("block", "shown"),
    [
        (
            {"type": "video", "title": {"type": "plain_text", "text": "x"}},
            "Unsupported block: video",
        ),
        (
            {"type": "actions", "elements": [{"type": "workflow_button", "text": TEXT}]},
            "Unsupported element: workflow_button",
        ),
        (
            {"type": "section", "text": TEXT, "accessory": {"type": "rich_text_list"}},
            "Unsupported element: rich_text_list",
        ),
        ({"no": "type"}, "Unsupported block"),
    ],
)
def test_unknown_types_are_shown_as_unsupported(
    page: Any, block: dict[str, Any], shown: str
) -> None:
    render(page, [{"type": "divider"}, block, {"type": "divider"}])
    unsupported = page.locator("#out .bk-unsupported")
    assert unsupported.count() == 1 and unsupported.first.is_visible()
    assert shown in unsupported.first.inner_text()
    assert page.locator('#out [data-block-type="divider"]').count() == 2


def test_mrkdwn_never_injects_html(page: Any) -> None:
    hostile = "&lt;img src=x onerror=alert(1)&gt; <javascript:alert(1)|click> *fine*"
    render(page, [{"type": "section", "text": {"type": "mrkdwn", "text": hostile}}])
    out = page.locator("#out")
    assert out.locator("img").count() == 0
    assert out.locator('a[href^="javascript"]').count() == 0
    assert "<img src=x onerror=alert(1)>" in out.inner_text()
    assert out.locator("b, strong").first.inner_text() == "fine"
