"""How reminders read in chat: the confirmation, the list with cancel buttons, the cancellation."""

from __future__ import annotations

from datetime import datetime

from bot.services.reminders import CANCELLED, CancelOutcome, ReminderView
from bot.services.when import describe, describe_instant
from bot.types import Actions, Block, Button, Context, Heading, Paragraph, Reply

CANCEL_ACTION = "reminder:cancel"
MAX_LISTED = 20  # two blocks each, inside Slack's 50-block message limit


def cancel_button(view: ReminderView) -> Button:
    return Button(f"Cancel #{view.id}", CANCEL_ACTION, str(view.id), style="danger")


def _when(view: ReminderView, now: datetime) -> str:
    return describe(view.schedule, view.zone, now)


def created(view: ReminderView, now: datetime) -> Reply:
    """The echo of a new reminder, so the person can check what was understood."""
    sentence = f"I'll remind {view.target} {_when(view, now)}"
    blocks: list[Block] = []
    if view.recurring and view.upcoming:
        shown = ", ".join(describe_instant(t, view.zone, now) for t in view.upcoming)
        sentence += f" (next: {shown})"
    blocks.append(Paragraph(f"{sentence}: *{view.text}*"))
    notes: list[str] = []
    if view.nobody_now:
        notes.append(
            f"Nobody is recorded as one of the {view.target} just now; I'll look again each"
            " time it is due."
        )
    if view.moves_to_school_slots:
        notes.append(
            "Outside term time, on holidays or outside school hours it waits for the next"
            " school-day slot."
        )
    notes.append(f"Reminder #{view.id} · `/slis reminders` lists yours.")
    blocks.extend(Context(n) for n in notes)
    blocks.append(Actions((cancel_button(view),)))
    return Reply(f"{sentence}: {view.text}", tuple(blocks))


def listing(views: list[ReminderView], now: datetime) -> Reply:
    """`/slis reminders`: the person's active reminders with a cancel button each."""
    if not views:
        message = "You have no reminders set."
        return Reply(
            message,
            (Paragraph(message), Context("Set one with `/slis remind me tomorrow 9am …`.")),
        )
    blocks: list[Block] = [Heading("Your reminders")]
    for view in views[:MAX_LISTED]:
        due = describe_instant(view.next_due, view.zone, now) if view.next_due else "not scheduled"
        line = f"*#{view.id}* {_when(view, now)} → {view.target}: {view.text}"
        if view.recurring:
            line += f"\nNext: {due}"
        blocks.append(Paragraph(line))
        blocks.append(Actions((cancel_button(view),)))
    if len(views) > MAX_LISTED:
        more = len(views) - MAX_LISTED
        blocks.append(Context(f"…and {more} more; cancel some with `/slis remind cancel <id>`."))
    return Reply(f"You have {len(views)} reminder(s).", tuple(blocks))


def cancelled(outcome: CancelOutcome, now: datetime) -> Reply:
    """The answer to a cancel (command or button)."""
    view = outcome.view
    summary = f"#{view.id} ({_when(view, now)} → {view.target}): {view.text}"
    if not outcome.already:
        message = f"Cancelled reminder {summary}"
    elif view.status == CANCELLED:
        message = f"Reminder {summary} was already cancelled."
    else:
        message = f"Reminder {summary} had already been sent; there is nothing to cancel."
    return Reply(message, (Paragraph(message),))
