"""What a person sees of their own answers: after sending them, and when they look again."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.services.healthcheck.templates import (
    MultipleQuestion,
    Question,
    RagQuestion,
    RankingQuestion,
    ScaleQuestion,
    SingleQuestion,
    Template,
)
from bot.types import Block, Context, Heading, Paragraph, Reply

SECTION_LIMIT = 2900  # Slack shows 3,000 characters in a section


def answer_text(template: Template, q: Question, value: Any) -> str:
    """One stored answer in words."""
    match q:
        case ScaleQuestion() if isinstance(value, int):
            label = q.labels[value - q.min] if q.labels else ""
            return f"{value} of {q.max}" + (f" ({label})" if label else "")
        case RagQuestion():
            return str(value).capitalize()
        case SingleQuestion():
            return next((c.label for c in q.choices if c.id == value), str(value))
        case MultipleQuestion() if isinstance(value, list):
            labels = [c.label for c in q.choices if c.id in value]
            return ", ".join(labels) if labels else "none"
        case RankingQuestion() if isinstance(value, list):
            lines = []
            for tier, items in enumerate(value, start=1):
                names = "; ".join(template.item_label(i) for i in items)
                lines.append(f"{tier}. {names}")
            return "\n".join(lines)
    return str(value)


def summary(
    template: Template,
    answers: Mapping[str, Any],
    comments: Mapping[str, str],
    *,
    heading: str,
    lead: str,
    note: str,
) -> Reply:
    """The person's answers, question by question, under a heading."""
    blocks: list[Block] = [Heading(heading), Paragraph(lead)]
    for q in template.questions:
        value = answers.get(q.id)
        shown = answer_text(template, q, value) if value is not None else "_not answered_"
        text = f"*{q.text}*\n{shown}"
        if q.id in comments:
            text += f"\n_Comment:_ {comments[q.id]}"
        blocks.append(Paragraph(text[:SECTION_LIMIT]))
    blocks.append(Context(note))
    return Reply(heading, tuple(blocks), private=True)
