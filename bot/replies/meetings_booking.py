"""What a booked quadrant meeting says: the invitation with its RSVP buttons, the calendar file's
message, the channel announcement, the change and cancellation notes, and the chair's answers.

Pure presentation: the caller passes the meeting as a `MeetingView` with its times already
written in the tenant's local time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.services.meetings.common import ACTION_PREFIX, Rsvp
from bot.types import Actions, Attachment, Block, Button, Context, Fields, Heading, Paragraph, Reply

RSVP_LABELS: dict[Rsvp, str] = {Rsvp.GOING: "Going", Rsvp.NOT_GOING: "Can't come"}
ANSWER_WORDS: dict[Rsvp | None, str] = {
    Rsvp.GOING: "Going",
    Rsvp.NOT_GOING: "Can't come",
    None: "Not answered yet",
}
Announced = Literal["booked", "changed", "cancelled"]


def rsvp_action(answer: Rsvp) -> str:
    """The action_id of an RSVP button, e.g. "slis.meeting.rsvp.going"."""
    return f"{ACTION_PREFIX}rsvp.{answer.value}"


CHANGE_ACTION = f"{ACTION_PREFIX}change"
CANCEL_ACTION = f"{ACTION_PREFIX}cancel"


@dataclass(frozen=True)
class MeetingView:
    """A booked (or cancelled) meeting as people read it; times already in local words."""

    meeting_id: int
    reference: str
    title: str
    purpose: str
    quadrant: str
    when: str  # e.g. "Tue 30 Mar 2027, 16:00–17:30"
    chair: str
    venue: str | None
    link: str | None
    agenda_until: str | None  # e.g. "Thu 25 Mar 2027, 16:00"; None once it has passed

    @property
    def where(self) -> str:
        """The venue, the join link, or both when the meeting has both."""
        if self.venue and self.link:
            return f"{self.venue} (or join online: {self.link})"
        return self.venue or self.link or "to be confirmed by the chair"


def invitation(
    view: MeetingView,
    *,
    answer: Rsvp | None,
    invitee: bool,
    manager: bool,
    updated: bool,
    headline: str | None = None,
) -> Reply:
    """One person's invitation: the time and place, their answer and the buttons to give it
    (invitees), and Change / Cancel (those who may manage the meeting)."""
    title = f"Updated: {view.title}" if updated else view.title
    pairs: list[tuple[str, str]] = [
        ("When", view.when),
        ("Where", view.where),
        ("Chair", view.chair),
        ("Reference", view.reference),
    ]
    if invitee:
        pairs.append(("Your answer", ANSWER_WORDS[answer]))
    blocks: list[Block] = []
    if headline:
        blocks.append(Paragraph(f"*{headline}*"))
    blocks.append(Heading(title))
    if updated:
        blocks.append(Paragraph("The details have changed: this replaces the invitation before."))
    if view.purpose.strip():
        blocks.append(Paragraph(view.purpose.strip()))
    blocks.append(Fields(tuple(pairs)))
    if view.agenda_until and invitee:
        blocks.append(
            Context(
                f"Add items for the agenda until {view.agenda_until}:"
                f" `/slis meeting agenda {view.reference} <item>`."
            )
        )
    buttons: list[Button] = []
    if invitee:
        for choice in (Rsvp.GOING, Rsvp.NOT_GOING):
            chosen = answer is choice
            label = f"✓ {RSVP_LABELS[choice]}" if chosen else RSVP_LABELS[choice]
            style = "primary" if chosen else None
            buttons.append(Button(label, rsvp_action(choice), str(view.meeting_id), style))
    if manager:
        buttons.append(Button("Change time or place", CHANGE_ACTION, str(view.meeting_id)))
        buttons.append(Button("Cancel the meeting", CANCEL_ACTION, str(view.meeting_id), "danger"))
    if buttons:
        blocks.append(Actions(tuple(buttons)))
    verb = "Updated invitation" if updated else "Invitation"
    text = f"{verb}: {view.title}, {view.when}, {view.where} ({view.reference})"
    return Reply(text, tuple(blocks))


def calendar_file(
    view: MeetingView, file: Attachment, *, cancelled: bool, sequence: int = 0
) -> Reply:
    """The message that carries the .ics file, right after the invitation or cancellation.

    Its words differ from one version of the file to the next (the time, and the update's
    number): the relay recognises a file it may already have sent by its name and these words.
    """
    if cancelled:
        text = (
            f"To take {view.reference} ({view.when}) out of your calendar, open the attached file."
        )
    elif sequence:
        text = (
            f"To update {view.reference} ({view.when}) in your calendar, open the attached file"
            f" (update {sequence})."
        )
    else:
        text = f"To add {view.reference} ({view.when}) to your calendar, open the attached file."
    return Reply(text, (Context(text),), files=(file,))


def cancellation(view: MeetingView, reason: str) -> Reply:
    """To each invitee: the meeting (or its poll) is cancelled, and why."""
    summary = f"Cancelled: {view.title} ({view.reference})"
    blocks: tuple[Block, ...] = (
        Heading(summary),
        Fields((("Was", view.when), ("Chair", view.chair))),
        Paragraph(f"*Why:* {reason}"),
    )
    return Reply(f"{summary}, {view.when}. {reason}", blocks)


def poll_cancelled(reference: str, title: str, chair: str, reason: str) -> Reply:
    """To each invitee, when a meeting is cancelled while its poll is open: no time was booked."""
    summary = f"Cancelled: {title} ({reference})"
    blocks: tuple[Block, ...] = (
        Heading(summary),
        Paragraph(
            f"{chair} has cancelled this meeting while its times were being voted on: no time"
            " was booked, so there is nothing to take out of your calendar."
        ),
        Paragraph(f"*Why:* {reason}"),
    )
    return Reply(f"{summary}. {reason}", blocks)


def poll_card_cancelled(reference: str, title: str, reason: str) -> Reply:
    """What a poll card (or the chair's tally) becomes when the meeting is cancelled."""
    summary = f"{title} ({reference}) was cancelled: voting has closed."
    return Reply(summary, (Heading(title), Paragraph(summary), Context(f"Why: {reason}")))


def announcement(view: MeetingView, what: Announced, reason: str | None = None) -> Reply:
    """For the quadrant's channel: what, when and where, without anyone's personal buttons."""
    heading = {
        "booked": f"Meeting booked: {view.title}",
        "changed": f"Meeting changed: {view.title}",
        "cancelled": f"Meeting cancelled: {view.title}",
    }[what]
    pairs: tuple[tuple[str, str], ...] = (
        ("When", view.when),
        ("Where", view.where),
        ("Chair", view.chair),
        ("Reference", view.reference),
    )
    blocks: list[Block] = [Heading(heading), Fields(pairs)]
    if what == "cancelled" and reason:
        blocks.append(Paragraph(f"*Why:* {reason}"))
    else:
        blocks.append(Context("Those invited have their invitations in their messages from me."))
    return Reply(f"{heading}, {view.when} ({view.reference})", tuple(blocks), private=False)


def change_note(
    reference: str, title: str, changes: Sequence[str], note: str | None, moved: bool
) -> Reply:
    """To each invitee, as soon as the chair changes a meeting: what changed; the new
    invitation and calendar file follow."""
    summary = f"{title} ({reference}) has changed"
    blocks: list[Block] = [Heading(summary)]
    blocks.append(Paragraph("\n".join(f"• {c}" for c in changes)))
    if note:
        blocks.append(Paragraph(f"*From the chair:* {note}"))
    follow = "A new invitation and calendar file follow."
    if moved:
        follow += " Please check you can still come, and change your answer on it if not."
    blocks.append(Context(follow))
    return Reply(f"{summary}: {'; '.join(changes)}.", tuple(blocks))


def calendar_problem(reference: str, title: str, problem: str) -> Reply:
    """To the chair, once, when the bot gives up on putting the meeting in their calendar."""
    summary = f"I couldn't put {title} ({reference}) in your Outlook calendar."
    blocks: tuple[Block, ...] = (
        Heading("Calendar problem"),
        Paragraph(summary),
        Paragraph(f"*What went wrong:* {problem}"),
        Context(
            "Everyone invited still gets the invitation from me, with a calendar file to add it"
            " themselves. Your administrator can check the Microsoft Graph settings."
        ),
    )
    return Reply(f"{summary} {problem}", blocks)


def done(message: str) -> Reply:
    """An answer to the person who acted (the chair), beside the message they acted on."""
    return Reply(message, (Paragraph(message),))
