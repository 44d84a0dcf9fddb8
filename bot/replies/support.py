"""What support brokerage says: the request card each party holds, and the notes in its thread.

A card is one message per person per request; it is edited in place as the request moves on,
so it always shows the state and the buttons that person may press now. Notes are new messages
in the card's thread: they are what notifies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from bot.services.support.facts import Facts, Proposal
from bot.services.support.lifecycle import State
from bot.types import Actions, Block, Button, Context, Fields, Heading, Paragraph, Reply

ACTION_PREFIX = "slis.support."
# Buttons, by the action they start; the value of each is the request id.
LABELS: dict[str, tuple[str, str | None]] = {
    "claim": ("Claim", "primary"),
    "decline": ("Decline", None),
    "question": ("Ask a question", None),
    "assign": ("Assign to a provider", "primary"),
    "propose": ("Propose days and cost", "primary"),
    "accept": ("Accept the proposal", "primary"),
    "ask_changes": ("Ask for changes", None),
    "start": ("Start the delivery", "primary"),
    "deliver": ("Mark delivered", "primary"),
    "close": ("Close and rate the impact", "primary"),
    "escalate": ("Escalate", None),
    "withdraw": ("Withdraw", "danger"),
    "reply": ("Reply", "primary"),
}
REVISE_LABEL = "Revise the proposal"

STATE_WORDS: dict[State, str] = {
    State.SUBMITTED: "Submitted",
    State.OFFERED: "Offered to alliances, waiting for a claim",
    State.CLAIMED: "Claimed: waiting for the provider's proposal",
    State.PROPOSED: "Proposal made: waiting for the school to accept",
    State.AGREED: "Agreed: waiting for the delivery to start",
    State.IN_DELIVERY: "In delivery",
    State.DELIVERED: "Delivered: waiting for the school to close it",
    State.CLOSED: "Closed",
    State.WITHDRAWN: "Withdrawn",
    State.ESCALATED: "Escalated to the quadrant chair and LA",
}


def action_id(action: str) -> str:
    return ACTION_PREFIX + action


def money(pence: int) -> str:
    """£1,125.00"""
    return f"£{pence / 100:,.2f}"


def days_text(days: Decimal) -> str:
    value = f"{days.normalize():f}"
    return f"{value} day" if days == 1 else f"{value} days"


def date_text(d: date) -> str:
    return f"{d:%a} {d.day} {d:%b %Y}"


def dates_text(starts: date, ends: date) -> str:
    return date_text(starts) if starts == ends else f"{date_text(starts)} to {date_text(ends)}"


def window_text(facts: Facts) -> str:
    if facts.window_from and facts.window_to:
        return dates_text(facts.window_from, facts.window_to)
    if facts.window_from:
        return f"from {date_text(facts.window_from)}"
    if facts.window_to:
        return f"by {date_text(facts.window_to)}"
    return "any time"


def status_text(facts: Facts) -> str:
    words = STATE_WORDS.get(facts.state, facts.state.label)
    if facts.holder and facts.state not in (State.WITHDRAWN,):
        who = facts.holder + (f" ({facts.holder_person})" if facts.holder_person else "")
        return f"{words} · held by {who}"
    return words


@dataclass(frozen=True)
class CardView:
    """One person's card: the request, what they may do now, and a line on what just changed."""

    facts: Facts
    actions: tuple[str, ...]
    headline: str | None = None
    details: bool = True  # what is needed and why: hidden from providers without consent
    commercial: bool = True  # the proposal, cost and impact: for the school, holder, overseers
    involved: bool = True  # whether the person has a part in the request now


def card(view: CardView) -> Reply:
    """The request card: summary, proposal, impact, and the buttons for what may be done now."""
    f = view.facts
    blocks: list[Block] = [Heading(f"{f.reference} · {f.category}")]
    if view.headline:
        blocks.append(Paragraph(view.headline))
    school = f.school + (f" ({f.quadrant})" if f.quadrant else "")
    pairs = [
        ("School", school),
        ("Status", status_text(f)),
        ("Urgency", f.urgency_label),
        ("When", window_text(f)),
    ]
    if f.days_estimate is not None:
        pairs.append(("Rough days", days_text(f.days_estimate)))
    pairs.append(
        ("Asked by", f"{f.requested_by}, {date_text(f.created_at.astimezone(f.zone).date())}")
    )
    blocks.append(Fields(tuple(pairs)))
    if view.details:
        blocks.append(Paragraph(f"*What is needed:* {f.needed}"))
        if f.why_now:
            blocks.append(Paragraph(f"*Why now:* {f.why_now}"))
    else:
        blocks.append(Context("The school's own words are shared with the provider it agrees."))
    if f.proposal is not None and view.commercial:
        blocks.extend(proposal_blocks(f.proposal, f, agreed=_agreed(f.state)))
    if f.impact_rating is not None and view.commercial:
        evidence = f" — {f.impact_evidence}" if f.impact_evidence else ""
        blocks.append(Paragraph(f"*Impact:* {f.impact_rating}/5{evidence}"))
    buttons = tuple(_button(a, f) for a in view.actions)
    if buttons:
        blocks.append(Actions(buttons))
    blocks.append(Context(f"`/slis support show {f.reference}` shows it again"))
    summary = f"{f.reference} {f.category} for {f.school}: {STATE_WORDS.get(f.state, '')}"
    if view.headline:
        summary = f"{view.headline} ({f.reference})"
    return Reply(summary, tuple(blocks), private=False)


def proposal_blocks(p: Proposal, f: Facts, *, agreed: bool) -> list[Block]:
    label = "Agreed" if agreed else "Proposed"
    blocks: list[Block] = [
        Fields(
            (
                (label, f"{days_text(p.days)}, {dates_text(p.starts_on, p.ends_on)}"),
                ("Cost", f"{money(p.cost_pence)} at {money(f.day_rate_pence)} a day"),
            )
        )
    ]
    if p.note:
        blocks.append(Paragraph(f"*Provider's note:* {p.note}"))
    return blocks


def _agreed(state: State) -> bool:
    return state in (State.AGREED, State.IN_DELIVERY, State.DELIVERED, State.CLOSED)


def _button(action: str, f: Facts) -> Button:
    label, style = LABELS[action]
    if action == "propose" and f.state is State.PROPOSED:
        label = REVISE_LABEL
    return Button(label, action_id(action), str(f.id), style=style)


def note(facts: Facts, text: str, *, buttons: Sequence[Button] = ()) -> Reply:
    """A message in the thread of a card: what happened, and what (if anything) to do."""
    blocks: list[Block] = [Paragraph(text)]
    if buttons:
        blocks.append(Actions(tuple(buttons)))
    blocks.append(Context(f"{facts.reference} · {facts.category} · {facts.school}"))
    return Reply(f"{facts.reference}: {_plain(text)}", tuple(blocks), private=False)


def reply_button(facts: Facts, question_event: int) -> Button:
    label, style = LABELS["reply"]
    return Button(label, action_id("reply"), f"{facts.id}:{question_event}", style=style)


def _plain(text: str) -> str:
    return text.replace("*", "")


def done(message: str, facts: Facts | None = None) -> Reply:
    """The answer to the person who acted: what happened, as a private message."""
    blocks: list[Block] = [Paragraph(message)]
    if facts is not None:
        blocks.append(Context(f"`/slis support show {facts.reference}` shows it"))
    return Reply(_plain(message), tuple(blocks), private=True)
