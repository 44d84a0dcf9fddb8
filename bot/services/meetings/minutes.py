"""Minutes and actions: after the meeting the chair (or a manager, or the named note-taker)
records the notes, who was there and the actions; the minutes go to those present and the
chair, each action to its owner with a "Mark done" button, and owners are reminded before the
due date.

Recording again is a correction: the notes are replaced, the actions given are added to those
already recorded (which stay as they are), and every minutes message already sent is edited in
place to the corrected text (someone newly marked present gets a new one). The form carries
when the minutes it started from were recorded, so a form sent twice, or one opened before
somebody else's correction, is refused rather than adding its actions twice.

Action reminders: once, from the opening of the school day two school days before the due
date (an action set inside that window is reminded by its own message, so it is not reminded
again); and once more, marked overdue, on the first school day after the due date if it is
still open. A done action is never reminded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import or_
from sqlmodel import Session, col, select, update

from bot import authorisation
from bot.errors import NotFound, UserError
from bot.form_flow import Finished, FormStep, PageErrors, ShowPage
from bot.forms import (
    DateField,
    Field,
    Form,
    FormValue,
    MultiChoiceField,
    Option,
    Page,
    SelectField,
    TextField,
)
from bot.ids import parse_id
from bot.ports import Clock
from bot.replies import meetings_follow as present
from bot.services import audit
from bot.services.calendar import TenantCalendar
from bot.services.meetings.common import (
    REFERENCE,
    State,
    entry,
    find_meeting,
    form_heading,
    guarded_update,
    may_manage,
    meeting_id_of,
    names_of,
    require_manager,
    tenant_of,
)
from bot.services.meetings.reminding import reachable
from bot.services.outbox import Recipient, enqueue
from bot.types import Actor, Paragraph, Reply
from storage.engine import Database
from storage.meeting_tables import Meeting, MeetingAction, MeetingInvitee
from storage.models import Person, aware, maybe_aware
from storage.outbox_tables import OutboxMessage

MINUTES_CALLBACK = "slis.meeting.minutes"
NOTES_LIMIT = 3000
WHAT_LIMIT = 300
ACTION_ROWS = 6
REMIND_SCHOOL_DAYS = 2  # an owner is reminded this many school days before the due date
LOOK_AHEAD = timedelta(days=21)  # due dates the action sweep reads (covers two school days)
LOOK_BACK = timedelta(days=30)  # overdue actions older than this are not chased again
SWEEP_BATCH = 500
_SEARCH_DAYS = 400


def minutes_key(meeting_id: int, person_id: int) -> str:
    """The minutes as sent to one person (edited in place by a correction)."""
    return f"meeting:{meeting_id}:minutes:{person_id}"


def assigned_key(action_id: int) -> str:
    return f"meeting-action:{action_id}:assigned"


def action_reminder_key(action_id: int, kind: str) -> str:
    """kind: "remind" (before the due date) or "overdue"."""
    return f"meeting-action:{action_id}:{kind}"


@dataclass(frozen=True)
class NewAction:
    """An action as the minutes form gives it."""

    what: str
    owner_person_id: int
    due_on: date


def school_days_before(calendar: TenantCalendar, d: date, n: int) -> date:
    """The n-th school day before `d`."""
    current = d
    for _ in range(n):
        current -= timedelta(days=1)
        for _ in range(_SEARCH_DAYS):
            if calendar.is_school_day(current):
                break
            current -= timedelta(days=1)
    return current


def remind_from(calendar: TenantCalendar, due_on: date) -> datetime:
    """When an action's owner is reminded: the opening of the school day two school days
    before the due date."""
    day = school_days_before(calendar, due_on, REMIND_SCHOOL_DAYS)
    return calendar.next_slot(calendar.at(day, time(0, 0)))


def overdue_from(calendar: TenantCalendar, due_on: date) -> datetime:
    """The opening of the first school day after the due date."""
    day = calendar.add_school_days(due_on, 1)
    return calendar.next_slot(calendar.at(day, time(0, 0)))


def record_refusal(actor: Actor, meeting: Meeting, now: datetime) -> UserError | None:
    """Why the actor may not record the minutes now (None: they may)."""
    if not (may_manage(actor, meeting) or meeting.note_taker_person_id == actor.person_id):
        return authorisation.refusal(entry("minutes"), meeting.reference)
    if meeting.state == State.HELD:
        return None
    started = meeting.starts_at is not None and now >= aware(meeting.starts_at)
    if meeting.state == State.BOOKED and started:
        return None
    if meeting.state == State.BOOKED:
        return UserError(
            f"{meeting.reference} has not started yet: record its minutes once it has."
        )
    words = present.STATE_WORDS.get(meeting.state, meeting.state).lower()
    return UserError(f"{meeting.reference} is {words}: there are no minutes to record.")


def stamp(t: datetime | None) -> str:
    """When minutes were last recorded, as the form carries it ("0": never)."""
    return "0" if t is None else str(int(aware(t).timestamp() * 1_000_000))


def action_views(
    session: Session,
    actions: Sequence[MeetingAction],
    calendars: Callable[[int], TenantCalendar],
    now: datetime,
) -> list[present.ActionView]:
    """Actions as the messages show them, with their meeting and owner."""
    meetings = {
        m.id: m
        for m in session.exec(
            select(Meeting).where(col(Meeting.id).in_({a.meeting_id for a in actions}))
        ).all()
    }
    names = names_of(session, sorted({a.owner_person_id for a in actions}))
    views = []
    for a in actions:
        assert a.id is not None
        m = meetings[a.meeting_id]
        cal = calendars(a.tenant_id)
        today = cal.local(now).date()
        done = maybe_aware(a.done_at)
        views.append(
            present.ActionView(
                id=a.id,
                what=a.what,
                reference=m.reference,
                meeting_title=m.title,
                owner=names.get(a.owner_person_id, "someone"),
                due_on=a.due_on,
                done_on=None if done is None else cal.local(done).date(),
                overdue=done is None and a.due_on < today,
            )
        )
    return views


def actions_of(session: Session, meeting_id: int) -> list[MeetingAction]:
    return list(
        session.exec(
            select(MeetingAction)
            .where(MeetingAction.meeting_id == meeting_id)
            .order_by(col(MeetingAction.id))
        ).all()
    )


class Minutes:
    """Recording minutes and actions, marking actions done, and reminding their owners."""

    ACTIONS: tuple[str, ...] = ("minutes", "done")
    IN_PLACE: tuple[str, ...] = ("done",)

    def __init__(
        self, db: Database, clock: Clock, calendars: Callable[[int], TenantCalendar]
    ) -> None:
        self.db = db
        self.clock = clock
        self.calendars = calendars
        self.flow = MinutesFlow(self)

    @property
    def flows(self) -> tuple[MinutesFlow]:
        return (self.flow,)

    def press(self, actor: Actor, action: str, value: str) -> ShowPage | Reply:
        """ "Record the minutes" opens the form; "Mark done" marks an action done."""
        name = action.partition(".")[0]
        if name == "minutes":
            return self.minutes_form(actor, meeting_id_of(value))
        if name == "done":
            action_id = parse_id(value)
            if action_id is None:
                raise UserError("That button is out of date: `/slis actions` lists yours.")
            return self.mark_done(actor, action_id)
        raise UserError(f"I don't know the action {action!r}.")

    # --- the form -------------------------------------------------------------------------

    def find(self, s: Session, actor: Actor, ref: str | int) -> Meeting:
        """The meeting, for someone who may see it or is its note-taker."""
        try:
            return find_meeting(s, actor, ref)
        except NotFound:
            tenant_id = tenant_of(actor)
            query = select(Meeting).where(
                Meeting.tenant_id == tenant_id,
                Meeting.note_taker_person_id == actor.person_id,
            )
            text = str(ref).strip()
            if text.isdigit():
                query = query.where(Meeting.id == (parse_id(text) or 0))
            elif REFERENCE.match(text.upper()):
                query = query.where(Meeting.reference == text.upper())
            else:
                raise
            meeting = s.exec(query).first()
            if meeting is None:
                raise
            return meeting

    def minutes_form(self, actor: Actor, ref: str | int) -> ShowPage:
        """`/slis meeting minutes <ref>` and the "Record the minutes" button."""
        with self.db.session() as s:
            meeting = self.find(s, actor, ref)
            refusal = record_refusal(actor, meeting, self.clock.now())
            if refusal is not None:
                raise refusal
            metadata = f"{meeting.id}:{stamp(meeting.minutes_sent_at)}"
        return ShowPage(self.flow.form(actor, metadata), 0)

    def people(self, s: Session, meeting: Meeting) -> tuple[list[tuple[int, str]], list[int]]:
        """Who may be marked present or own an action (invitees, the chair, the note-taker),
        by name; and those expected (going, and the chair)."""
        assert meeting.id is not None
        rows = s.exec(
            select(MeetingInvitee.person_id, MeetingInvitee.rsvp).where(
                MeetingInvitee.meeting_id == meeting.id
            )
        ).all()
        ids = {p for p, _ in rows} | {meeting.chair_person_id}
        if meeting.note_taker_person_id is not None:
            ids.add(meeting.note_taker_person_id)
        names = names_of(s, sorted(ids))
        people = sorted(((p, names.get(p, "?")) for p in ids), key=lambda x: x[1].casefold())
        going = [p for p, rsvp in rows if rsvp == "going"] + [meeting.chair_person_id]
        return people, going

    # --- recording ------------------------------------------------------------------------

    def record(
        self,
        actor: Actor,
        meeting_id: int,
        notes: str,
        present_ids: Sequence[int],
        new_actions: Sequence[NewAction],
        seen: str,
    ) -> Reply:
        """Store the minutes and actions and send them; `seen` is the `stamp` of the minutes
        the form started from (a mismatch: somebody recorded since, so nothing is done)."""
        tenant_id = tenant_of(actor)
        self.calendars(tenant_id)
        for _ in range(3):
            with self.db.session() as s:
                meeting = self.find(s, actor, meeting_id)
                refusal = record_refusal(actor, meeting, self.clock.now())
                if refusal is not None:
                    raise refusal
                if stamp(meeting.minutes_sent_at) != seen:
                    raise UserError(
                        f"The minutes of {meeting.reference} were recorded since you opened the"
                        " form, so nothing was changed.",
                        hint=f"`/slis meeting minutes {meeting.reference}` opens them to correct.",
                    )
                people, _ = self.people(s, meeting)
                allowed = {p for p, _ in people}
                read_version = meeting.version
                corrected = meeting.minutes_sent_at is not None
                reference = meeting.reference
            if any(a.owner_person_id not in allowed for a in new_actions):
                raise UserError("An action's owner must be one of the meeting's people.")
            present_ids = [p for p in present_ids if p in allowed]
            now = self.clock.now()
            with self.db.session() as s:
                if not guarded_update(
                    s,
                    meeting_id,
                    read_version,
                    now,
                    minutes=notes,
                    minutes_sent_at=now,
                    state=State.HELD.value,
                ):
                    continue
                audit.record(
                    s,
                    tenant_id=tenant_id,
                    at=now,
                    action="meeting.minutes",
                    subject=reference,
                    actor=actor,
                    detail={"actions": len(new_actions), "corrected": corrected},
                )
                return self._send(
                    s, actor, meeting_id, read_version + 1, present_ids, new_actions, corrected
                )
        raise UserError("Others are changing this meeting right now: please try again.")

    def _send(
        self,
        s: Session,
        actor: Actor,
        meeting_id: int,
        version: int,
        present_ids: Sequence[int],
        new_actions: Sequence[NewAction],
        corrected: bool,
    ) -> Reply:
        now = self.clock.now()
        meeting = s.get(Meeting, meeting_id)
        assert meeting is not None and meeting.minutes is not None
        s.refresh(meeting)
        calendar = self.calendars(meeting.tenant_id)
        added: list[MeetingAction] = []
        for a in new_actions:
            # Set inside the reminder window, its own message is the reminder.
            soon = now >= remind_from(calendar, a.due_on)
            row = MeetingAction(
                tenant_id=meeting.tenant_id,
                meeting_id=meeting_id,
                what=a.what,
                owner_person_id=a.owner_person_id,
                due_on=a.due_on,
                reminded_at=now if soon else None,
                created_at=now,
            )
            s.add(row)
            added.append(row)
        s.flush()
        everything = action_views(s, actions_of(s, meeting_id), self.calendars, now)
        facts = present.facts_of(meeting, calendar)
        names = names_of(s, sorted(set(present_ids)))
        shown = sorted((names.get(p, "?") for p in set(present_ids)), key=str.casefold)
        reply = present.minutes(facts, meeting.minutes, shown, everything, corrected=corrected)
        wanted = set(present_ids) | {meeting.chair_person_id}
        reach = reachable(s, sorted(wanted | {a.owner_person_id for a in new_actions}))
        carded = self._carded(s, meeting)
        sent = 0
        for person_id in sorted(carded):
            sent += enqueue(
                s,
                tenant_id=meeting.tenant_id,
                key=f"{minutes_key(meeting_id, person_id)}:v{version}",
                to=Recipient(person_id=person_id),
                reply=reply,
                not_before=now,
                edits=minutes_key(meeting_id, person_id),
                now=now,
            )
        for person_id in sorted((wanted & reach) - carded):
            sent += enqueue(
                s,
                tenant_id=meeting.tenant_id,
                key=minutes_key(meeting_id, person_id),
                to=Recipient(person_id=person_id),
                reply=reply,
                not_before=calendar.next_slot(now),
                now=now,
            )
        views = {v.id: v for v in everything}
        for row in added:
            assert row.id is not None
            if row.owner_person_id not in reach:
                continue
            enqueue(
                s,
                tenant_id=meeting.tenant_id,
                key=assigned_key(row.id),
                to=Recipient(person_id=row.owner_person_id),
                reply=present.action_card(
                    views[row.id],
                    headline=f"You have an action from *{meeting.title}* ({meeting.reference}).",
                ),
                not_before=calendar.next_slot(now),
                now=now,
            )
        missed = (wanted | {a.owner_person_id for a in added}) - reach
        unreachable = sorted(names_of(s, sorted(missed)).values(), key=str.casefold)
        what = "Corrected minutes" if corrected else "Minutes"
        text = (
            f"{what} of {meeting.reference} recorded and sent to {sent} people;"
            f" {len(added)} new action(s)."
        )
        if unreachable:
            text += f" Not sent to {', '.join(unreachable)} (no chat account): tell them yourself."
        return Reply(text, (Paragraph(text),))

    def _carded(self, s: Session, meeting: Meeting) -> set[int]:
        """Who already holds the minutes of this meeting."""
        assert meeting.id is not None
        prefix = minutes_key(meeting.id, 0)[:-1]
        keys = s.exec(
            select(OutboxMessage.key).where(
                OutboxMessage.tenant_id == meeting.tenant_id,
                col(OutboxMessage.key).startswith(prefix),
                col(OutboxMessage.edits_key).is_(None),
            )
        ).all()
        return {int(k[len(prefix) :]) for k in keys if k[len(prefix) :].isdigit()}

    # --- done -----------------------------------------------------------------------------

    def name_note_taker(self, actor: Actor, ref: str, who: str) -> Reply:
        """`/slis meeting notetaker <ref> <e-mail | me | none>`: the chair names who records the
        minutes (an invitee, or anyone in the directory by e-mail), or takes it back."""
        tenant_id = tenant_of(actor)
        wanted = who.strip().lower()
        if not wanted:
            raise UserError(
                "Who takes the notes? Give their e-mail address, `me`, or `none`.",
                hint=f"e.g. `/slis meeting notetaker {ref} wren.halloway@school.example.org`",
            )
        for _ in range(3):
            with self.db.session() as s:
                meeting = find_meeting(s, actor, ref)
                require_manager(actor, meeting, authorisation.command("meeting notetaker"))
                if meeting.state == State.CANCELLED.value:
                    raise UserError(f"{meeting.reference} was cancelled.")
                person: Person | None = None
                if wanted == "me":
                    person = s.get(Person, actor.person_id)
                elif wanted != "none":
                    person = s.exec(
                        select(Person).where(Person.tenant_id == tenant_id, Person.email == wanted)
                    ).first()
                    if person is None:
                        raise NotFound(
                            f"Nobody in the directory has the e-mail address {who.strip()}.",
                            hint="Check the address, or ask your LA administrator to add them.",
                        )
                meeting_id, read_version = meeting.id, meeting.version
                reference = meeting.reference
            assert meeting_id is not None
            with self.db.session() as s:
                taker = None if person is None else person.id
                if guarded_update(
                    s, meeting_id, read_version, self.clock.now(), note_taker_person_id=taker
                ):
                    break
        else:
            raise UserError("Others are changing this meeting right now: please try again.")
        if person is None:
            message = f"Nobody is named to take the notes of {reference}: you record the minutes."
        else:
            message = (
                f"{person.name} will take the notes of {reference}: after the meeting they are"
                f" asked for the minutes (`/slis meeting minutes {reference}`), as you are."
            )
        return Reply(message, (Paragraph(message),))

    def mark_done(self, actor: Actor, action_id: int) -> Reply:
        """The owner or a manager marks an action done; the action card as it now is."""
        tenant_id = tenant_of(actor)
        with self.db.session() as s:
            action = s.get(MeetingAction, action_id)
            meeting = None if action is None else s.get(Meeting, action.meeting_id)
            if action is None or meeting is None or action.tenant_id != tenant_id:
                raise NotFound(
                    "I can't find that action.", hint="`/slis actions` lists your open actions."
                )
            if action.owner_person_id != actor.person_id and not may_manage(actor, meeting):
                raise authorisation.refusal(entry("done"), meeting.reference)
        now = self.clock.now()
        with self.db.session() as s:
            result = s.exec(
                update(MeetingAction)
                .where(col(MeetingAction.id) == action_id, col(MeetingAction.done_at).is_(None))
                .values(done_at=now)
            )
            action = s.get(MeetingAction, action_id)
            assert action is not None
            s.refresh(action)
            view = action_views(s, [action], self.calendars, now)[0]
        headline = "Marked done. Thank you." if result.rowcount else "This action was already done."
        return present.action_card(view, headline=headline)

    # --- the sweep ------------------------------------------------------------------------

    def sweep(self, now: datetime) -> dict[str, int]:
        """Remind owners of open actions before the due date, and once when overdue."""
        counts = {"action_reminders": 0, "overdue_reminders": 0}
        today = now.date()
        with self.db.session() as s:
            open_actions = list(
                s.exec(
                    select(MeetingAction)
                    .where(
                        col(MeetingAction.done_at).is_(None),
                        col(MeetingAction.due_on) >= today - LOOK_BACK,
                        col(MeetingAction.due_on) <= today + LOOK_AHEAD,
                    )
                    .order_by(col(MeetingAction.due_on), col(MeetingAction.id))
                    .limit(SWEEP_BATCH)
                ).all()
            )
        for action in open_actions:
            calendar = self.calendars(action.tenant_id)
            reminded = maybe_aware(action.reminded_at)
            late = overdue_from(calendar, action.due_on)
            if now >= late and (reminded is None or reminded < late):
                kind, since = "overdue", late
            elif now >= remind_from(calendar, action.due_on) and reminded is None:
                kind, since = "remind", None
            else:
                continue
            if self._remind(action, kind, since, now):
                counts["overdue_reminders" if kind == "overdue" else "action_reminders"] += 1
        return counts

    def _remind(
        self, read: MeetingAction, kind: str, since: datetime | None, now: datetime
    ) -> bool:
        assert read.id is not None
        calendar = self.calendars(read.tenant_id)
        not_reminded = col(MeetingAction.reminded_at).is_(None)
        with self.db.session() as s:
            result = s.exec(
                update(MeetingAction)
                .where(
                    col(MeetingAction.id) == read.id,
                    col(MeetingAction.done_at).is_(None),
                    not_reminded
                    if since is None
                    else or_(not_reminded, col(MeetingAction.reminded_at) < since),
                )
                .values(reminded_at=now)
            )
            if not result.rowcount or not reachable(s, [read.owner_person_id]):
                return False
            view = action_views(s, [read], self.calendars, now)[0]
            headline = (
                f"Overdue: this action was due on {present.date_text(read.due_on)}."
                if kind == "overdue"
                else f"Reminder: this action is due on {present.date_text(read.due_on)}."
            )
            return enqueue(
                s,
                tenant_id=read.tenant_id,
                key=action_reminder_key(read.id, kind),
                to=Recipient(person_id=read.owner_person_id),
                reply=present.action_card(view, headline=headline),
                not_before=calendar.next_slot(now),
                now=now,
            )


class MinutesFlow:
    """The minutes form (metadata: "<meeting id>:<stamp of the minutes it started from>")."""

    callback_id = MINUTES_CALLBACK

    def __init__(self, service: Minutes) -> None:
        self.service = service

    def form(self, actor: Actor, metadata: str) -> Form:
        meeting_id, _ = _metadata(metadata)
        with self.service.db.session() as s:
            meeting = self.service.find(s, actor, meeting_id)
            refusal = record_refusal(actor, meeting, self.service.clock.now())
            if refusal is not None:
                raise refusal
            people, going = self.service.people(s, meeting)
            existing = len(actions_of(s, meeting_id))
        options = tuple(Option(str(p), name) for p, name in people)
        expected = tuple(o.value for o in options if int(o.value) in set(going))
        fields: list[Field] = [
            TextField(
                "notes",
                "Notes",
                multiline=True,
                max_length=NOTES_LIMIT,
                initial=meeting.minutes,
            ),
            MultiChoiceField(
                "attended", "Present", options=options, initial=expected, required=False
            ),
        ]
        for n in range(1, ACTION_ROWS + 1):
            fields += [
                TextField(
                    f"action_{n}_what", f"Action {n}: what", max_length=WHAT_LIMIT, required=False
                ),
                SelectField(
                    f"action_{n}_owner", f"Action {n}: who", options=options, required=False
                ),
                DateField(f"action_{n}_due", f"Action {n}: due by", required=False),
            ]
        intro = "The minutes go to those present and the chair; each action to its owner."
        if existing:
            intro += f" The {existing} action(s) already recorded are kept: add only new ones here."
        return Form(
            callback_id=MINUTES_CALLBACK,
            title="Minutes",
            pages=(Page(form_heading(meeting), intro, tuple(fields)),),
            submit_label="Send",
            private_metadata=metadata,
        )

    def submit(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        meeting_id, seen = _metadata(metadata)
        tenant_id = tenant_of(actor)
        calendar = self.service.calendars(tenant_id)
        today = calendar.local(self.service.clock.now()).date()
        errors: dict[str, str] = {}
        actions: list[NewAction] = []
        for n in range(1, ACTION_ROWS + 1):
            row, problems = _action_row(values, n, today)
            errors.update(problems)
            if row is not None:
                actions.append(row)
        notes = str(values.get("notes") or "").strip()
        if not notes:
            errors["notes"] = "Write the notes of the meeting."
        if errors:
            return PageErrors(errors)
        attended = values.get("attended")
        present_ids = [int(v) for v in attended] if isinstance(attended, list) else []
        reply = self.service.record(actor, meeting_id, notes, present_ids, actions, seen)
        return Finished(reply, "Minutes")

    def back(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        return ShowPage(self.form(actor, metadata), 0, values)


def _action_row(
    values: Mapping[str, FormValue], n: int, today: date
) -> tuple[NewAction | None, dict[str, str]]:
    """Action row n: an action, nothing (all blank), or the problems of a partly filled row."""
    what_id, owner_id, due_id = f"action_{n}_what", f"action_{n}_owner", f"action_{n}_due"
    what = str(values.get(what_id) or "").strip()
    owner = str(values.get(owner_id) or "")
    due = values.get(due_id)
    due_on = due if isinstance(due, date) else None
    if not what and not owner and due_on is None:
        return None, {}
    problems: dict[str, str] = {}
    if not what:
        problems[what_id] = "Say what needs doing."
    owner_person_id = parse_id(owner)
    if owner_person_id is None:
        problems[owner_id] = "Choose who will do it."
    if due_on is None:
        problems[due_id] = "Give a due date."
    elif due_on < today:
        problems[due_id] = "The due date is in the past."
    if problems:
        return None, problems
    assert due_on is not None and owner_person_id is not None
    return NewAction(what, owner_person_id, due_on), {}


def _metadata(metadata: str) -> tuple[int, str]:
    first, _, seen = metadata.partition(":")
    meeting_id = parse_id(first)
    if meeting_id is None or not (seen.isascii() and seen.isdigit()):
        raise UserError("That form is out of date: open it again from the meeting.")
    return meeting_id, seen
