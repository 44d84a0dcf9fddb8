"""What the bot says about a meeting after it is booked: the agenda, reminders, the minutes, the
actions that come out of them, and the `/slis meeting list|show` and `/slis actions` pages.

Pure presentation over plain values; the services read the tables and decide who sees what.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from bot.services.calendar import TenantCalendar
from bot.services.calendar_file import fmt
from bot.services.meetings.common import ACTION_PREFIX, State, day_text, when_text
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
from storage.meeting_tables import Meeting
from storage.models import aware

STATE_WORDS: dict[str, str] = {
    State.DRAFT: "Draft (poll not sent)",
    State.POLLING: "Poll open",
    State.BOOKED: "Booked",
    State.CANCELLED: "Cancelled",
    State.HELD: "Held",
}
RSVP_WORDS: dict[str | None, str] = {
    "going": "going",
    "not_going": "can't come",
    None: "no answer yet",
}
# Reminder stages (Meeting.reminders_sent): how far off the meeting is when each goes out.
STAGE_WORDS: dict[int, str] = {1: "in a week", 2: "tomorrow", 3: "in an hour"}
NO_AGENDA = "The chair has not published an agenda yet."


def action_id(name: str) -> str:
    """A meeting button's action_id, e.g. "slis.meeting.done.12"."""
    return ACTION_PREFIX + name


def date_text(d: date) -> str:
    """E.g. "Tue 2 Mar 2027"."""
    return fmt(d)


@dataclass(frozen=True)
class MeetingFacts:
    """A meeting as these messages show it: what, when, where, and how it stands."""

    id: int
    reference: str
    title: str
    state: str
    when: str | None  # "Tue 2 Mar 2027, 16:00–17:30" once booked
    where: str
    poll_closes: str | None  # while the poll is open

    @property
    def state_words(self) -> str:
        return STATE_WORDS.get(self.state, self.state)

    @property
    def when_or_poll(self) -> str:
        if self.when is not None:
            return self.when
        if self.poll_closes is not None:
            return f"poll closes {self.poll_closes}"
        return "time not set"


def facts_of(meeting: Meeting, calendar: TenantCalendar) -> MeetingFacts:
    """The facts of a meeting row, its times in the tenant's local time."""
    assert meeting.id is not None
    when = None
    if meeting.starts_at is not None and meeting.ends_at is not None:
        when = when_text(calendar, aware(meeting.starts_at), aware(meeting.ends_at))
    poll_closes = None
    if meeting.state in (State.DRAFT, State.POLLING) and meeting.vote_deadline is not None:
        deadline = aware(meeting.vote_deadline)
        poll_closes = f"{day_text(calendar, deadline)} {calendar.local(deadline):%H:%M}"
    return MeetingFacts(
        id=meeting.id,
        reference=meeting.reference,
        title=meeting.title,
        state=meeting.state,
        when=when,
        where=where_text(meeting),
        poll_closes=poll_closes,
    )


def where_text(meeting: Meeting) -> str:
    if meeting.mode == "online":
        return f"Online: {meeting.online_url}" if meeting.online_url else "Online (link to follow)"
    return meeting.venue or "Venue to be confirmed"


def _footer(f: MeetingFacts) -> Context:
    return Context(f"{f.reference} · `/slis meeting show {f.reference}` shows it again")


def numbered(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(f"{i}. {text}" for i, text in enumerate(items, start=1))


# --- agenda --------------------------------------------------------------------------------


def agenda_added(f: MeetingFacts, item: str, items: Sequence[str]) -> Reply:
    """The answer to someone who put an item forward: the item, and the agenda so far."""
    blocks: list[Block] = [
        Paragraph(f"Added to the agenda of *{f.title}* ({f.reference}): {item}"),
        BulletList(numbered(items), title="Put forward so far"),
        Context("The chair orders and publishes the agenda; it goes out with the reminders."),
    ]
    return Reply(f"Added to the agenda of {f.reference}: {item}", tuple(blocks))


def agenda_saved(f: MeetingFacts, items: Sequence[str], left_off: int, published: bool) -> Reply:
    """The answer to the chair who ordered the agenda."""
    head = (
        "Agenda published: it goes out with the next reminder."
        if published
        else "Agenda order saved (not published yet)."
    )
    blocks: list[Block] = [Paragraph(f"*{f.title}* ({f.reference}): {head}")]
    blocks.append(BulletList(numbered(items) or ("(no items)",), title="Agenda"))
    if left_off:
        blocks.append(Context(f"{left_off} item(s) left off the agenda."))
    return Reply(f"{f.reference}: {head}", tuple(blocks))


# --- reminders ------------------------------------------------------------------------------


def rsvp_buttons(meeting_id: int) -> Actions:
    """Going / Can't, handled by the booking slice."""
    return Actions(
        (
            Button("Going", action_id("rsvp.going"), str(meeting_id), style="primary"),
            Button("Can't come", action_id("rsvp.not_going"), str(meeting_id)),
        )
    )


def reminder(f: MeetingFacts, stage: int, agenda: Sequence[str] | None, *, ask: bool) -> Reply:
    """A reminder of the meeting: when, where, the agenda if published (`agenda` None: not
    published), and the RSVP buttons for someone who has not answered (`ask`)."""
    soon = STAGE_WORDS.get(stage, "soon")
    blocks: list[Block] = [
        Heading(f"Reminder: {f.title} {soon}"),
        Fields((("When", f.when_or_poll), ("Where", f.where))),
    ]
    if agenda is None:
        blocks.append(Paragraph(NO_AGENDA))
    else:
        blocks.append(BulletList(numbered(agenda) or ("(no items)",), title="Agenda"))
    if ask:
        blocks.append(Paragraph("Will you be there?"))
        blocks.append(rsvp_buttons(f.id))
    blocks.append(_footer(f))
    return Reply(f"Reminder: {f.title} ({f.reference}) {soon}, {f.when_or_poll}", tuple(blocks))


def minutes_prompt(f: MeetingFacts) -> Reply:
    """To the chair (and note-taker) once the meeting is over."""
    blocks: list[Block] = [
        Paragraph(
            f"*{f.title}* ({f.reference}) is over. Record the minutes and actions: they go"
            " to the attendees, and each action's owner is reminded before it is due."
        ),
        Actions((Button("Record the minutes", action_id("minutes"), str(f.id), "primary"),)),
        Context(f"Or `/slis meeting minutes {f.reference}`"),
    ]
    return Reply(f"Record the minutes of {f.reference}", tuple(blocks), private=False)


# --- minutes and actions ----------------------------------------------------------------------


@dataclass(frozen=True)
class ActionView:
    """One action from a meeting's minutes."""

    id: int
    what: str
    reference: str
    meeting_title: str
    owner: str
    due_on: date
    done_on: date | None = None
    overdue: bool = False


def action_line(a: ActionView, *, owner: bool = True) -> str:
    who = f" — {a.owner}" if owner else ""
    if a.done_on is not None:
        return f"{a.what}{who}, done ✓ {date_text(a.done_on)} ({a.reference})"
    late = " *overdue*" if a.overdue else ""
    return f"{a.what}{who}, due {date_text(a.due_on)}{late} ({a.reference})"


def done_button(a: ActionView, *, unique: bool = False) -> Button:
    """ "Mark done"; `unique` gives it an action_id of its own, for lists of several."""
    name = f"done.{a.id}" if unique else "done"
    return Button("Mark done", action_id(name), str(a.id), style="primary")


def minutes(
    f: MeetingFacts,
    notes: str,
    present: Sequence[str],
    actions: Sequence[ActionView],
    *,
    corrected: bool = False,
) -> Reply:
    """The minutes as they go to the attendees: notes, who was there, and the actions."""
    head = "Minutes (corrected)" if corrected else "Minutes"
    blocks: list[Block] = [
        Heading(f"{head}: {f.title}"),
        Fields((("When", f.when_or_poll), ("Present", ", ".join(present) or "not recorded"))),
        Paragraph(notes),
    ]
    if actions:
        blocks.append(BulletList(tuple(action_line(a) for a in actions), title="Actions"))
    else:
        blocks.append(Paragraph("No actions were recorded."))
    blocks.append(_footer(f))
    return Reply(f"{head} of {f.title} ({f.reference})", tuple(blocks), private=False)


def action_card(a: ActionView, headline: str | None = None) -> Reply:
    """An action for its owner: what, from which meeting, by when, and "Mark done" (or done)."""
    blocks: list[Block] = [Heading(f"Action from {a.reference}")]
    if headline:
        blocks.append(Paragraph(headline))
    blocks.append(Paragraph(f"*{a.what}*"))
    due = date_text(a.due_on) + (" (overdue)" if a.overdue and a.done_on is None else "")
    blocks.append(Fields((("Meeting", a.meeting_title), ("Owner", a.owner), ("Due", due))))
    if a.done_on is not None:
        blocks.append(Paragraph(f"Done ✓ on {date_text(a.done_on)}"))
    else:
        blocks.append(Actions((done_button(a),)))
    blocks.append(Context("`/slis actions` lists your open actions"))
    summary = headline or f"Action from {a.reference}: {a.what}"
    return Reply(summary, tuple(blocks), private=False)


def actions_page(
    mine: Sequence[ActionView], quadrant: Sequence[ActionView] | None, *, done: bool = False
) -> Reply:
    """`/slis actions`: my open actions with their buttons, then (for an organiser, `quadrant`
    not None) the open actions of their quadrant(s) by owner."""
    title = "Your actions done lately" if done else "Your open actions"
    blocks: list[Block] = [Heading(title)]
    if not mine:
        blocks.append(Paragraph("None." if done else "You have no open actions."))
    for a in mine:
        blocks.append(Paragraph(action_line(a, owner=False)))
        if a.done_on is None:
            blocks.append(Actions((done_button(a, unique=True),)))
    if quadrant is not None:
        blocks.append(Heading("Open actions in your quadrant(s)"))
        if not quadrant:
            blocks.append(Paragraph("None."))
        owners = sorted({a.owner for a in quadrant}, key=str.casefold)
        for owner in owners:
            lines = tuple(action_line(a, owner=False) for a in quadrant if a.owner == owner)
            blocks.append(BulletList(lines, title=owner))
    blocks.append(Context("`/slis actions done` lists what you finished in the last 30 days"))
    return Reply(f"{title}: {len(mine)}", tuple(blocks))


# --- /slis meeting list and show --------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """A meeting on someone's list, with their own answer (None: not invited)."""

    facts: MeetingFacts
    invited: bool
    rsvp: str | None


def listed_line(m: Listed) -> str:
    f = m.facts
    line = f"*{f.reference}* {f.title} · {f.state_words} · {f.when_or_poll}"
    if m.invited and f.state == State.BOOKED:
        line += f" · you: {RSVP_WORDS.get(m.rsvp, m.rsvp or '')}"
    return line


def meeting_list(upcoming: Sequence[Listed], recent: Sequence[Listed], *, organiser: bool) -> Reply:
    """`/slis meeting list`: upcoming, then recent meetings."""
    if not upcoming and not recent:
        text = "There are no upcoming or recent meetings in your quadrant(s)."
        hint = (
            " `/slis meeting new` proposes one."
            if organiser
            else " You will be sent a poll when a meeting you are invited to is proposed."
        )
        return Reply(text + hint, (Paragraph(text + hint),))
    blocks: list[Block] = [Heading("Meetings")]
    blocks.append(
        BulletList(tuple(listed_line(m) for m in upcoming) or ("None.",), title="Upcoming")
    )
    if recent:
        blocks.append(
            BulletList(tuple(listed_line(m) for m in recent), title="Recent (last 60 days)")
        )
    blocks.append(Context("`/slis meeting show <reference>` shows one meeting"))
    return Reply(f"Meetings: {len(upcoming)} upcoming, {len(recent)} recent", tuple(blocks))


@dataclass(frozen=True)
class MeetingPage:
    """One meeting as one person may see it (see listing.Listing.show)."""

    facts: MeetingFacts
    purpose: str
    chair: str
    # Managers see every invitee's name and answer; invitees the counts and their own.
    invitees: tuple[tuple[str, str | None], ...] | None
    counts: dict[str | None, int]
    own_rsvp: str | None
    invited: bool
    agenda: tuple[str, ...]
    agenda_published: bool
    minutes: str | None
    actions: tuple[ActionView, ...]
    buttons: tuple[str, ...]  # action names: agenda, agenda_order, minutes, rsvp
    cancel_reason: str | None = None


BUTTON_LABELS = {
    "agenda": ("Add an agenda item", None),
    "agenda_order": ("Order the agenda", None),
    "minutes": ("Record the minutes", "primary"),
}


def meeting_page(p: MeetingPage) -> Reply:
    """`/slis meeting show <ref>`."""
    f = p.facts
    blocks: list[Block] = [Heading(f"{f.reference} · {f.title}")]
    pairs = [("Status", f.state_words), ("When", f.when_or_poll), ("Where", f.where)]
    pairs.append(("Chair", p.chair))
    blocks.append(Fields(tuple(pairs)))
    if p.purpose:
        blocks.append(Paragraph(f"*Purpose:* {p.purpose}"))
    if p.cancel_reason:
        blocks.append(Paragraph(f"*Cancelled:* {p.cancel_reason}"))
    counts = ", ".join(
        f"{p.counts.get(k, 0)} {RSVP_WORDS[k]}" for k in ("going", "not_going", None)
    )
    if p.invitees is not None:
        lines = tuple(f"{name}: {RSVP_WORDS.get(r, r or '')}" for name, r in p.invitees)
        blocks.append(BulletList(lines or ("(nobody)",), title=f"Invitees ({counts})"))
    else:
        blocks.append(Paragraph(f"*Invitees:* {counts}"))
    if p.invited:
        blocks.append(Paragraph(f"*You:* {RSVP_WORDS.get(p.own_rsvp, p.own_rsvp or '')}"))
    if p.agenda:
        title = "Agenda" if p.agenda_published else "Agenda items put forward (not published)"
        blocks.append(BulletList(numbered(p.agenda), title=title))
    if p.minutes:
        blocks.append(Paragraph(f"*Minutes:* {p.minutes}"))
    if p.actions:
        blocks.append(BulletList(tuple(action_line(a) for a in p.actions), title="Actions"))
    buttons: list[Button] = []
    for name in p.buttons:
        if name == "rsvp":
            buttons.extend(rsvp_buttons(f.id).buttons)
        else:
            label, style = BUTTON_LABELS[name]
            buttons.append(Button(label, action_id(name), str(f.id), style=style))
    if buttons:
        blocks.append(Actions(tuple(buttons)))
    return Reply(f"{f.reference} {f.title}: {f.state_words}, {f.when_or_poll}", tuple(blocks))
