"""A meeting's agenda: invitees put items forward, the chair orders and publishes them, and the
published agenda goes out with the next reminder (see reminding.py).

Rules:
- invitees and those who may manage the meeting add items to a polling or booked meeting;
  invitees until `agenda_deadline_days` calendar days before the start (a poll not yet booked
  has no start: open), managers until the meeting starts;
- the chair (or an organiser of the quadrant) orders the items: each gets a position, or none
  to leave it off. `MeetingAgendaItem.position` is then 1, 2, … in agenda order, 0 for an item
  left off, and stays NULL for items put forward since (they follow the ordered ones, by
  when they came, so nothing is lost between ordering and the meeting);
- publishing sets `Meeting.agenda_published_at`; the agenda shown in reminders is the current
  order, so a later re-order needs no second publishing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlmodel import Session, col, select, update

from bot import authorisation
from bot.errors import UserError
from bot.form_flow import Finished, FormStep, PageErrors, ShowPage
from bot.forms import ChoiceField, Field, Form, FormValue, NumberField, Option, Page, TextField
from bot.ids import parse_id
from bot.ports import Clock
from bot.replies import meetings_follow as present
from bot.services import audit
from bot.services.calendar import TenantCalendar
from bot.services.meetings.common import (
    State,
    day_text,
    entry,
    find_meeting,
    form_heading,
    guarded_update,
    is_invitee,
    may_manage,
    meeting_id_of,
    names_of,
    require_manager,
    tenant_of,
    time_text,
)
from bot.types import Actor, Reply
from storage.engine import Database
from storage.meeting_tables import Meeting, MeetingAgendaItem
from storage.models import aware

AGENDA_CALLBACK = "slis.meeting.agenda"
ORDER_CALLBACK = "slis.meeting.agenda_order"
ITEM_LIMIT = 500
LEFT_OFF = 0  # the position of an item the chair left off the agenda
ORDER_LIMIT = 90  # items one order form takes (a page holds 100 rows)
LABEL_LIMIT = 150
OPEN_STATES = (State.POLLING, State.BOOKED)
ORDERABLE_STATES = (State.DRAFT, State.POLLING, State.BOOKED)


class ItemProblem(UserError):
    """An agenda item's text is empty or too long (shown on the form's field)."""


def checked_item(text: str) -> str:
    """The item's text, tidied; ItemProblem if it is empty or over ITEM_LIMIT characters."""
    words = " ".join(text.split())
    if not words:
        raise ItemProblem("Say what should be discussed.")
    if len(words) > ITEM_LIMIT:
        raise ItemProblem(f"Keep an agenda item to {ITEM_LIMIT} characters (it has {len(words)}).")
    return words


def items_of(session: Session, meeting_id: int) -> list[MeetingAgendaItem]:
    """Every item put forward, in the order they came."""
    return list(
        session.exec(
            select(MeetingAgendaItem)
            .where(MeetingAgendaItem.meeting_id == meeting_id)
            .order_by(col(MeetingAgendaItem.created_at), col(MeetingAgendaItem.id))
        ).all()
    )


def agenda(session: Session, meeting: Meeting) -> list[str]:
    """The agenda in order: the ordered items, then those put forward since ordering."""
    assert meeting.id is not None
    items = items_of(session, meeting.id)
    ordered = sorted((i for i in items if i.position), key=lambda i: (i.position or 0, i.id or 0))
    later = [i for i in items if i.position is None]
    return [i.text for i in ordered + later]


def closes_at(meeting: Meeting) -> datetime | None:
    """When invitees can no longer add items (None: not booked yet, so open)."""
    if meeting.starts_at is None:
        return None
    return aware(meeting.starts_at) - timedelta(days=meeting.agenda_deadline_days)


def add_refusal(
    s: Session,
    actor: Actor,
    meeting: Meeting,
    now: datetime,
    calendars: Callable[[int], TenantCalendar],
) -> UserError | None:
    """Why the actor may not put an item forward now (None: they may)."""
    assert meeting.id is not None
    manager = may_manage(actor, meeting)
    if not manager and not is_invitee(s, meeting.id, actor.person_id):
        return authorisation.refusal(
            entry("agenda"), meeting.reference, hint="Ask the chair to raise it, or to invite you."
        )
    if meeting.state not in OPEN_STATES:
        words = present.STATE_WORDS.get(meeting.state, meeting.state).lower()
        return UserError(f"{meeting.reference} is {words}: its agenda is closed.")
    closes = aware(meeting.starts_at) if manager and meeting.starts_at else closes_at(meeting)
    if closes is not None and now >= closes:
        calendar = calendars(meeting.tenant_id)
        chair = names_of(s, [meeting.chair_person_id]).get(meeting.chair_person_id)
        who = f"the chair, {chair}," if chair else "the meeting's chair"
        return UserError(
            f"The agenda of {meeting.reference} closed on {day_text(calendar, closes)} at"
            f" {time_text(calendar, closes)}.",
            hint=f"Contact {who} if something must be discussed.",
        )
    return None


class Agenda:
    """Adding items, ordering and publishing the agenda; the `agenda` and `agenda_order`
    buttons."""

    ACTIONS: tuple[str, ...] = ("agenda", "agenda_order")
    IN_PLACE: tuple[str, ...] = ()

    def __init__(
        self, db: Database, clock: Clock, calendars: Callable[[int], TenantCalendar]
    ) -> None:
        self.db = db
        self.clock = clock
        self.calendars = calendars
        self.add_flow = AgendaFlow(self)
        self.order_flow = AgendaOrderFlow(self)

    @property
    def flows(self) -> tuple[AgendaFlow, AgendaOrderFlow]:
        return (self.add_flow, self.order_flow)

    # --- adding --------------------------------------------------------------------------

    def add(self, actor: Actor, ref: str | int, text: str) -> Reply:
        """`/slis meeting agenda <ref> <item>`: put an item forward."""
        item = checked_item(text)
        with self.db.session() as s:
            meeting = find_meeting(s, actor, ref)
            self._check_may_add(s, actor, meeting)
            assert meeting.id is not None and actor.person_id is not None
            s.add(
                MeetingAgendaItem(
                    tenant_id=meeting.tenant_id,
                    meeting_id=meeting.id,
                    added_by=actor.person_id,
                    text=item,
                    created_at=self.clock.now(),
                )
            )
            s.flush()
            items = [i.text for i in items_of(s, meeting.id)]
            facts = present.facts_of(meeting, self.calendars(meeting.tenant_id))
        return present.agenda_added(facts, item, items)

    def add_form(self, actor: Actor, ref: str | int) -> ShowPage:
        """The one-field form behind the "Add an agenda item" button."""
        with self.db.session() as s:
            meeting = find_meeting(s, actor, ref)
            self._check_may_add(s, actor, meeting)
        return ShowPage(self.add_flow.form(actor, str(meeting.id)), 0)

    def _check_may_add(self, s: Session, actor: Actor, meeting: Meeting) -> None:
        refusal = add_refusal(s, actor, meeting, self.clock.now(), self.calendars)
        if refusal is not None:
            raise refusal

    # --- ordering ------------------------------------------------------------------------

    def order_form(self, actor: Actor, ref: str | int) -> ShowPage:
        """The chair's form for ordering (and publishing) the agenda."""
        with self.db.session() as s:
            meeting = self._orderable(s, actor, ref)
            assert meeting.id is not None
            ids = [i.id for i in items_of(s, meeting.id)[:ORDER_LIMIT] if i.id is not None]
        if not ids:
            raise UserError(
                f"Nobody has put an item forward for {meeting.reference} yet.",
                hint=f"`/slis meeting agenda {meeting.reference} <item>` adds one.",
            )
        metadata = f"{meeting.id}:{','.join(str(i) for i in ids)}"
        return ShowPage(self.order_flow.form(actor, metadata), 0)

    def _orderable(self, s: Session, actor: Actor, ref: str | int) -> Meeting:
        meeting = find_meeting(s, actor, ref)
        require_manager(actor, meeting, entry("agenda_order"))
        if meeting.state not in ORDERABLE_STATES:
            words = present.STATE_WORDS.get(meeting.state, meeting.state).lower()
            raise UserError(f"{meeting.reference} is {words}: its agenda can't be changed.")
        return meeting

    def save_order(
        self, actor: Actor, meeting_id: int, positions: Mapping[int, int | None], publish: bool
    ) -> Reply:
        """Store the order the chair gave (item id -> position, None: leave off), renumbered
        1, 2, …; publish the agenda if asked. Items not in `positions` are left as they are."""
        tenant_id = tenant_of(actor)
        given = sorted((p, i) for i, p in positions.items() if p is not None)
        order = {item_id: n for n, (_, item_id) in enumerate(given, start=1)}
        for _ in range(3):
            with self.db.session() as s:
                meeting = self._orderable(s, actor, meeting_id)
                read_version = meeting.version
            now = self.clock.now()
            with self.db.session() as s:
                values = {"agenda_published_at": now} if publish else {}
                if not guarded_update(s, meeting_id, read_version, now, **values):
                    continue
                for item_id in positions:
                    s.exec(
                        update(MeetingAgendaItem)
                        .where(
                            col(MeetingAgendaItem.id) == item_id,
                            col(MeetingAgendaItem.meeting_id) == meeting_id,
                            col(MeetingAgendaItem.tenant_id) == tenant_id,
                        )
                        .values(position=order.get(item_id, LEFT_OFF))
                    )
                fresh = s.get(Meeting, meeting_id)
                assert fresh is not None
                s.refresh(fresh)
                audit.record(
                    s,
                    tenant_id=tenant_id,
                    at=now,
                    action="meeting.agenda_order",
                    subject=fresh.reference,
                    actor=actor,
                    detail={"items": len(order), "published": publish},
                )
                shown = agenda(s, fresh)
                facts = present.facts_of(fresh, self.calendars(tenant_id))
                published = fresh.agenda_published_at is not None
            left_off = len(positions) - len(order)
            return present.agenda_saved(facts, shown, left_off, publish or published)
        raise UserError("Others are changing this meeting right now: please try again.")

    # --- buttons -------------------------------------------------------------------------

    def press(self, actor: Actor, action: str, value: str) -> ShowPage | Reply:
        """ "Add an agenda item" opens its form; "Order the agenda" the chair's form."""
        name = action.partition(".")[0]
        meeting_id = meeting_id_of(value)
        if name == "agenda":
            return self.add_form(actor, meeting_id)
        if name == "agenda_order":
            return self.order_form(actor, meeting_id)
        raise UserError(f"I don't know the action {action!r}.")


class AgendaFlow:
    """The "Add an agenda item" form (metadata: the meeting id)."""

    callback_id = AGENDA_CALLBACK

    def __init__(self, service: Agenda) -> None:
        self.service = service

    def form(self, actor: Actor, metadata: str) -> Form:
        meeting_id = meeting_id_of(metadata)
        with self.service.db.session() as s:
            meeting = find_meeting(s, actor, meeting_id)
            if not (may_manage(actor, meeting) or is_invitee(s, meeting_id, actor.person_id)):
                raise authorisation.refusal(entry("agenda"), meeting.reference)
        closes = closes_at(meeting)
        intro = "Say what you would like discussed; the chair orders the agenda."
        if closes is not None:
            calendar = self.service.calendars(meeting.tenant_id)
            intro += f" Items can be added until {day_text(calendar, closes)}."
        field = TextField(
            "item", "What should be discussed?", multiline=True, max_length=ITEM_LIMIT
        )
        return Form(
            callback_id=AGENDA_CALLBACK,
            title="Add an agenda item",
            pages=(Page(form_heading(meeting), intro, (field,)),),
            submit_label="Add",
            private_metadata=str(meeting_id),
        )

    def submit(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        try:
            reply = self.service.add(actor, meeting_id_of(metadata), str(values.get("item", "")))
        except ItemProblem as exc:
            return PageErrors({"item": exc.message})
        return Finished(reply, "Agenda")

    def back(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        return ShowPage(self.form(actor, metadata), 0, values)


class AgendaOrderFlow:
    """The chair's "Order the agenda" form (metadata: "<meeting id>:<item id>,<item id>…",
    the items it was opened with, so items put forward meanwhile are not left off)."""

    callback_id = ORDER_CALLBACK

    def __init__(self, service: Agenda) -> None:
        self.service = service

    def form(self, actor: Actor, metadata: str) -> Form:
        meeting_id, item_ids = _order_metadata(metadata)
        with self.service.db.session() as s:
            meeting = self.service._orderable(s, actor, meeting_id)
            assert meeting.id is not None
            items = [i for i in items_of(s, meeting.id) if i.id in item_ids]
            names = names_of(s, sorted({i.added_by for i in items}))
        if not items:
            raise UserError("That form is out of date: open it again from the meeting.")
        fields: list[Field] = []
        n = len(items)
        following = max((i.position or 0 for i in items), default=0)
        for item in items:
            initial = item.position if item.position else None
            if item.position is None:
                following += 1
                initial = following if following <= n else None
            fields.append(
                NumberField(
                    f"pos_{item.id}",
                    _label(item.text),
                    min_value=1,
                    max_value=n,
                    required=False,
                    initial=initial,
                    help=f"Put forward by {names.get(item.added_by, 'someone')}",
                )
            )
        fields.append(
            ChoiceField(
                "publish",
                "Then",
                options=(
                    Option("publish", "Publish the agenda", "It goes out with the next reminder"),
                    Option("save", "Save the order only"),
                ),
                initial="publish",
            )
        )
        intro = (
            f"Number the items 1 to {n} in the order to take them; leave a number blank to"
            " leave that item off the agenda."
        )
        return Form(
            callback_id=ORDER_CALLBACK,
            title="Order the agenda",
            pages=(Page(form_heading(meeting), intro, tuple(fields)),),
            submit_label="Save",
            private_metadata=metadata,
        )

    def submit(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        meeting_id, item_ids = _order_metadata(metadata)
        positions: dict[int, int | None] = {}
        taken: dict[int, str] = {}
        errors: dict[str, str] = {}
        for item_id in item_ids:
            field = f"pos_{item_id}"
            value = values.get(field)
            position = value if isinstance(value, int) and not isinstance(value, bool) else None
            if position is not None and position in taken:
                errors[field] = f"Position {position} is already given to another item."
            elif position is not None:
                taken[position] = field
            positions[item_id] = position
        if errors:
            return PageErrors(errors)
        publish = values.get("publish", "publish") == "publish"
        reply = self.service.save_order(actor, meeting_id, positions, publish)
        return Finished(reply, "Agenda")

    def back(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        return ShowPage(self.form(actor, metadata), 0, values)


def _label(text: str) -> str:
    return text if len(text) <= LABEL_LIMIT else text[: LABEL_LIMIT - 1] + "…"


def _order_metadata(metadata: str) -> tuple[int, Sequence[int]]:
    first, _, rest = metadata.partition(":")
    meeting_id = parse_id(first)
    ids = [parse_id(p) for p in rest.split(",") if p]
    if meeting_id is None or not ids or None in ids:
        raise UserError("That form is out of date: open it again from the meeting.")
    return meeting_id, [i for i in ids if i is not None]
