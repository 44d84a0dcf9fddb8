"""How a meeting's availability poll reads in chat: each invitee's poll card, the chair's live
tally, the pick message when voting closes, the nudge, and the proposal's confirmation.

Pure functions over views whose times are already written out in the tenant's local time.
A poll card has one row of Yes / If need be / No buttons per candidate time: action_id
`slis.meeting.vote.<position>.<answer>`, value `<meeting id>:<slot id>:<answer>`; the pick
message has one "Book …" button per time, the best first: action_id
`slis.meeting.book.<position>`, value `<meeting id>:<slot id>`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.services.meetings.common import ACTION_PREFIX
from bot.services.meetings.poll import Answer
from bot.types import Actions, Block, Button, Context, Divider, Fields, Heading, Paragraph, Reply

ANSWER_LABELS: dict[Answer, str] = {
    Answer.YES: "Yes",
    Answer.IF_NEED_BE: "If need be",
    Answer.NO: "No",
}
CHOSEN_MARK = "✓"
BEST_MARK = "★"
CLOSE_LABEL = "Close the poll now"


@dataclass(frozen=True)
class SlotLine:
    """A candidate time as the poll shows it, e.g. "Tue 2 Mar 2027, 16:00–17:00"."""

    position: int
    slot_id: int
    when: str
    day_time: str  # the start alone, for a button: "Tue 2 Mar 2027, 16:00"


@dataclass(frozen=True)
class MeetingHeader:
    """What every poll message says about the meeting."""

    meeting_id: int
    reference: str
    title: str
    purpose: str
    place: str  # e.g. "In person: Colne Valley Primary, hall" or "Online (Teams)"
    quadrant: str
    deadline: str  # e.g. "Mon 8 Mar 2027 at 12:00"


@dataclass(frozen=True)
class PollView:
    """One invitee's poll card: the times, their answers so far, and whether they may vote."""

    header: MeetingHeader
    slots: tuple[SlotLine, ...]
    answers: Mapping[int, Answer]  # by slot id
    open: bool
    closed_note: str = ""  # why voting is over, when it is


@dataclass(frozen=True)
class TallyRow:
    """How one time stands."""

    slot: SlotLine
    yes: int
    if_need_be: int
    no: int
    not_voted: int


@dataclass(frozen=True)
class TallyView:
    """The chair's view of the poll: each time's counts, the best, and who has not answered."""

    header: MeetingHeader
    rows: tuple[TallyRow, ...]
    best_slot_id: int | None
    not_voted: tuple[str, ...]  # names of invitees with no answer at all
    part_voted: tuple[str, ...]  # names of invitees who answered some times, not all
    no_chat: tuple[str, ...] = ()  # invitees the poll could not reach
    open: bool = True
    closed_note: str = ""
    bookable: bool = False  # the poll is over and nothing is booked yet: offer the Book buttons
    state_note: str = ""  # e.g. "Booked for …" or "Cancelled"
    rows_best_first: tuple[TallyRow, ...] = field(default=())


def vote_action(position: int, answer: Answer) -> str:
    return f"{ACTION_PREFIX}vote.{position}.{answer.value}"


def vote_value(meeting_id: int, slot_id: int, answer: Answer) -> str:
    return f"{meeting_id}:{slot_id}:{answer.value}"


def _header_blocks(h: MeetingHeader) -> list[Block]:
    blocks: list[Block] = [Heading(f"{h.title} ({h.reference})")]
    if h.purpose:
        blocks.append(Paragraph(h.purpose))
    blocks.append(Fields((("Quadrant", h.quadrant), ("Where", h.place))))
    return blocks


def poll_card(view: PollView) -> Reply:
    """The invitee's poll: each time with its three buttons (their answer marked) while voting
    is open; their answers, without buttons, once it is closed."""
    h = view.header
    blocks = _header_blocks(h)
    if view.open:
        blocks.append(Paragraph("*When can you come?* Answer for each time."))
    else:
        blocks.append(Paragraph(f"*{view.closed_note or 'Voting has closed.'}*"))
    for line in view.slots:
        answer = view.answers.get(line.slot_id)
        if view.open:
            blocks.append(Paragraph(f"*{line.position}.* {line.when}"))
            blocks.append(
                Actions(tuple(_vote_button(h.meeting_id, line, a, answer) for a in Answer))
            )
        else:
            said = ANSWER_LABELS[answer] if answer is not None else "no answer"
            blocks.append(Paragraph(f"*{line.position}.* {line.when}: {said}"))
    if view.open:
        blocks.append(Context(f"You can change your answers until {h.deadline}."))
        text = f"When can you meet? {h.title} ({h.reference}): please answer by {h.deadline}."
    else:
        text = f"Voting has closed for {h.title} ({h.reference})."
    return Reply(text, tuple(blocks), private=False)


def _vote_button(meeting_id: int, line: SlotLine, answer: Answer, chosen: Answer | None) -> Button:
    label = ANSWER_LABELS[answer]
    if answer is chosen:
        return Button(
            f"{CHOSEN_MARK} {label}",
            vote_action(line.position, answer),
            vote_value(meeting_id, line.slot_id, answer),
            style="primary",
        )
    return Button(
        label, vote_action(line.position, answer), vote_value(meeting_id, line.slot_id, answer)
    )


def counts_text(row: TallyRow) -> str:
    return f"Yes {row.yes} · If need be {row.if_need_be} · No {row.no} · not voted {row.not_voted}"


def _tally_blocks(view: TallyView) -> list[Block]:
    blocks: list[Block] = []
    for row in view.rows:
        best = f"  {BEST_MARK} *best so far*" if row.slot.slot_id == view.best_slot_id else ""
        blocks.append(
            Paragraph(f"*{row.slot.position}.* {row.slot.when}{best}\n{counts_text(row)}")
        )
    if view.not_voted:
        blocks.append(Paragraph(f"*Not voted yet:* {', '.join(view.not_voted)}"))
    if view.part_voted:
        blocks.append(Paragraph(f"*Answered some times only:* {', '.join(view.part_voted)}"))
    if view.no_chat:
        blocks.append(
            Context(
                f"No chat account, so no poll: {', '.join(view.no_chat)}."
                " Ask them another way and book with their answer in mind."
            )
        )
    return blocks


def tally_card(view: TallyView) -> Reply:
    """The chair's live tally: counts per time, the best marked, who has not voted, and the
    Close button while voting is open (the Book buttons once it is over)."""
    h = view.header
    blocks: list[Block] = [Heading(f"Poll: {h.title} ({h.reference})")]
    if view.open:
        blocks.append(Context(f"Voting closes {h.deadline}. Best: most Yes, then fewest No."))
    else:
        blocks.append(Paragraph(f"*{view.closed_note or 'Voting has closed.'}*"))
    if view.state_note:
        blocks.append(Paragraph(view.state_note))
    blocks.extend(_tally_blocks(view))
    if view.open:
        blocks.append(Actions((Button(CLOSE_LABEL, f"{ACTION_PREFIX}close", str(h.meeting_id)),)))
    elif view.bookable:
        blocks.append(Actions(book_buttons(view)))
    state = "open" if view.open else "closed"
    return Reply(f"Poll for {h.title} ({h.reference}): voting {state}.", tuple(blocks), False)


def book_buttons(view: TallyView) -> tuple[Button, ...]:
    """One button per time, the best first (styled primary), then the others in the rule's
    order."""
    buttons: list[Button] = []
    for i, row in enumerate(view.rows_best_first):
        action = f"{ACTION_PREFIX}book.{row.slot.position}"
        value = f"{view.header.meeting_id}:{row.slot.slot_id}"
        if i == 0:
            buttons.append(Button(f"Book {row.slot.day_time}", action, value, style="primary"))
        else:
            buttons.append(Button(f"Book {row.slot.day_time} instead", action, value))
    return tuple(buttons)


def pick_message(view: TallyView) -> Reply:
    """To the chair when voting closes: the final tally and a Book button per time."""
    h = view.header
    best = next((r for r in view.rows_best_first), None)
    blocks: list[Block] = [Heading(f"Pick a time: {h.title} ({h.reference})")]
    if best is not None:
        blocks.append(
            Paragraph(
                f"Voting has closed. The best time is *{best.slot.when}*"
                f" ({counts_text(best)}). Book it, or another time if you prefer."
            )
        )
    blocks.append(Divider())
    blocks.extend(_tally_blocks(view))
    if view.bookable:
        blocks.append(Actions(book_buttons(view)))
    text = f"Voting has closed for {h.title} ({h.reference}): pick the time to book."
    return Reply(text, tuple(blocks), private=False)


def nudge(header: MeetingHeader, missing: Sequence[SlotLine]) -> Reply:
    """The one reminder to vote, in the thread of the person's poll card."""
    times = ", ".join(str(line.position) for line in missing)
    text = (
        f"Voting on *{header.title}* ({header.reference}) closes {header.deadline}, and you have"
        f" not answered for {'time' if len(missing) == 1 else 'times'} {times} yet."
        " Your answers help the chair pick a time everyone can make."
    )
    return Reply(text.replace("*", ""), (Paragraph(text),), private=False)


def proposed(
    reference: str,
    title: str,
    reached: int,
    sends_at: str | None,
    no_chat: Sequence[str],
    deadline: str,
) -> Reply:
    """The chair's confirmation that the poll is on its way."""
    when = f" at {sends_at}" if sends_at else ""
    lines = [
        f"*{reference}* {title}: the poll goes to {reached}"
        f" {'person' if reached == 1 else 'people'}{when}; voting closes {deadline}."
        " I'll send you a live tally."
    ]
    if no_chat:
        names = ", ".join(no_chat)
        lines.append(
            f"{names} {'has' if len(no_chat) == 1 else 'have'} no chat account, so will not get"
            " the poll: ask them another way."
        )
    blocks: list[Block] = [Paragraph(line) for line in lines]
    blocks.append(Context(f"`/slis meeting list` shows your meetings · {reference}"))
    return Reply(" ".join(lines).replace("*", ""), tuple(blocks), private=True)
