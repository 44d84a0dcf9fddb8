"""What `/slis healthcheck` and `/slis healthcheck status` show."""

from __future__ import annotations

from bot.services.healthcheck.answering import PendingList
from bot.services.healthcheck.prompts import START_ACTION, when_text
from bot.services.healthcheck.rounds import CLOSED, OPEN, Rate, RoundStatus
from bot.types import (
    Actions,
    Block,
    BulletList,
    Button,
    Context,
    Fields,
    Heading,
    Paragraph,
    Reply,
)

LIST_LIMIT = 40  # rows of a rate table shown; the rest are counted


def pending(found: PendingList) -> Reply:
    """The actor's healthchecks: to answer (with Start), answered (with Change), and to come."""
    to_answer = [p for p in found.items if not p.answered]
    done = [p for p in found.items if p.answered]
    if not found.items and not found.upcoming:
        text = "You have no healthcheck to answer at the moment."
        return Reply(text, (Paragraph(text),))
    blocks: list[Block] = [Heading("Your healthchecks")]
    if not to_answer:
        blocks.append(Paragraph("Nothing to answer now. Thank you!"))
    for item in to_answer:
        blocks.append(
            Paragraph(
                f"*{item.title}* for *{item.subject}*: by {when_text(item.closes_at, found.zone)}"
            )
        )
        blocks.append(
            Actions((Button("Start", START_ACTION, str(item.invitation_id), style="primary"),))
        )
    for item in done:
        blocks.append(
            Paragraph(
                f"✅ *{item.title}* for *{item.subject}*: answered; you can change your answers"
                f" until {when_text(item.closes_at, found.zone)}."
            )
        )
        blocks.append(
            Actions((Button("Change my answers", START_ACTION, str(item.invitation_id)),))
        )
    if found.upcoming:
        blocks.append(
            BulletList(
                tuple(
                    f"{title}, opens {when_text(at, found.zone)}" for title, at in found.upcoming
                ),
                title="Coming up",
            )
        )
    summary = f"{len(to_answer)} healthcheck(s) to answer"
    return Reply(summary, tuple(blocks))


def _rate(rate: Rate) -> str:
    share = f"{round(100 * rate.answered / rate.invited)}%" if rate.invited else "–"
    return f"{rate.label}: {rate.answered} of {rate.invited} ({share})"


def status(found: RoundStatus) -> Reply:
    """Response rates of a round, overall, by quadrant and by partnership."""
    zone = found.zone
    state = {
        OPEN: f"open until {when_text(found.closes_at, zone)}",
        CLOSED: f"closed {when_text(found.closes_at, zone)}",
    }.get(found.status, f"opens {when_text(found.opens_at, zone)}")
    blocks: list[Block] = [
        Heading(f"#{found.round_id} {found.title}: responses"),
        Fields(
            (
                ("Audience", found.audience),
                ("Status", state),
                ("Answered", _rate(found.total).removeprefix("All: ")),
                ("Nudges", f"{found.nudges_sent} of {found.nudges_planned} sent"),
            )
        ),
    ]
    if found.by_quadrant:
        blocks.append(BulletList(tuple(_rate(r) for r in found.by_quadrant), title="By quadrant"))
    if found.by_partnership:
        rows = sorted(found.by_partnership, key=lambda r: (r.answered / max(r.invited, 1), r.label))
        shown = [_rate(r) for r in rows[:LIST_LIMIT]]
        if len(rows) > LIST_LIMIT:
            shown.append(f"and {len(rows) - LIST_LIMIT} more")
        blocks.append(BulletList(tuple(shown), title="By partnership (lowest first)"))
    if found.anonymous:
        blocks.append(
            Context("Anonymous round: these are counts of who has answered, never what they said.")
        )
    return Reply(f"#{found.round_id} {found.title}: {_rate(found.total)}", tuple(blocks))
