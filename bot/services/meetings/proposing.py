"""`/slis meeting new [quadrant]`: the form a chair proposes a meeting through, and sending its
availability poll.

Page 1 ("Propose a meeting"): title, purpose, in person (venue) or online (optional link), two
to eight candidate times (date, start, length) and the voting deadline. The slot rules are
slots.check_slots; a problem is refused beside its field. Page 2 ("Who to invite"): the
default invitees from the directory (all ticked), e-mail addresses of others to add, and,
above them, the warnings about the times (holidays, weekends, outside the school day) and who
has no chat account. Sending creates the meeting (polling) with its slots and invitees and
queues the poll cards and the chair's tally (voting.announce_poll) in one transaction.

Slack keeps only the page on screen, so page 1's answers travel to page 2 in the form's
private metadata (compact JSON) and are checked again when the poll is sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import exists, func
from sqlmodel import Session, col, select

from bot import authorisation
from bot.errors import NotFound, UserError
from bot.form_flow import Finished, FormStep, PageErrors, ShowPage
from bot.forms import (
    METADATA_LIMIT,
    ChoiceField,
    DateField,
    Field,
    Form,
    FormValue,
    MultiChoiceField,
    Option,
    Page,
    SelectField,
    TextField,
    TimeField,
)
from bot.ids import parse_id
from bot.ports import Clock
from bot.replies import meetings_poll as present
from bot.services import audit
from bot.services.calendar import TenantCalendar
from bot.services.meetings.common import (
    ACTION_PREFIX,
    Mode,
    State,
    next_reference,
    organiser_quadrants,
    tenant_of,
)
from bot.services.meetings.invitees import Invitee, default_invitees
from bot.services.meetings.slots import (
    FIRST_SLOT_FIELD,
    MAX_SLOTS,
    SlotInput,
    SlotWarning,
    check_slots,
)
from bot.services.meetings.voting import announce_poll, deadline_text
from bot.types import Actor
from storage.engine import Database
from storage.meeting_tables import Meeting, MeetingInvitee, MeetingSlot
from storage.models import ChatIdentity, Person, Quadrant

__all__ = ["CALLBACK_ID", "Proposing"]

CALLBACK_ID = ACTION_PREFIX + "new"
TITLE = "Propose a meeting"
TITLE_LIMIT = 200
PURPOSE_LIMIT = 1000
VENUE_LIMIT = 300
LINK_LIMIT = 500
EMAILS_LIMIT = 2000
WRAPPED_LIMIT = 2900  # the metadata JSON-escaped, leaving Slack's wrapper 100 of its 3,000
OPTION_NOTE = 75  # an option's small print (Slack: 75 characters)
LENGTHS = (30, 45, 60, 90, 120, 180)
DEFAULT_MINUTES = 60
PROPOSE_ENTRY = authorisation.command("meeting new")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SPLIT = re.compile(r"[\s,;]+")


def _slot_fields(n: int) -> tuple[str, str, str]:
    return f"slot_{n}_date", f"slot_{n}_time", f"slot_{n}_minutes"


@dataclass(frozen=True)
class Draft:
    """Page 1's answers, read: the times (form number, start, minutes), the deadline, the
    place, and the problems and warnings by field."""

    quadrant_id: int
    slots: tuple[tuple[int, datetime, int], ...]
    deadline: datetime
    problems: Mapping[str, str]
    warnings: tuple[SlotWarning, ...]


class Proposing:
    """The "Propose a meeting" form (`/slis meeting new [quadrant]`) and sending its poll."""

    callback_id = CALLBACK_ID

    def __init__(
        self, db: Database, clock: Clock, calendars: Callable[[int], TenantCalendar]
    ) -> None:
        self.db = db
        self.clock = clock
        self.calendars = calendars

    # --- opening ------------------------------------------------------------------------------

    def open(self, actor: Actor, args: str) -> ShowPage:
        """The form, for the quadrant named in `args`, the actor's only one, or a choice."""
        organisable = self._organisable(actor)
        name = args.strip()
        if name:
            quadrant_id = self._named(actor, name, organisable)
            return ShowPage(self.form(actor, _encode({"q": quadrant_id})), 0)
        if len(organisable) == 1:
            return ShowPage(self.form(actor, _encode({"q": organisable[0][0]})), 0)
        return ShowPage(self.form(actor, ""), 0)

    def _organisable(self, actor: Actor) -> list[tuple[int, str]]:
        """The quadrants (id, name) of the actor's local authority they may organise for."""
        tenant_id = tenant_of(actor)
        allowed = organiser_quadrants(actor)
        if allowed is not None and not allowed:
            raise authorisation.refusal(PROPOSE_ENTRY)
        found = [q for q in self._quadrants(tenant_id) if allowed is None or q[0] in allowed]
        if not found:
            raise authorisation.refusal(PROPOSE_ENTRY)
        return found

    def _quadrants(self, tenant_id: int) -> list[tuple[int, str]]:
        with self.db.session() as s:
            rows = s.exec(
                select(Quadrant.id, Quadrant.name).where(Quadrant.tenant_id == tenant_id)
            ).all()
        return sorted(((qid, n) for qid, n in rows if qid is not None), key=lambda q: q[1])

    def _named(self, actor: Actor, name: str, organisable: Sequence[tuple[int, str]]) -> int:
        everyone = self._quadrants(tenant_of(actor))
        match = next((q for q in everyone if q[1].casefold() == name.casefold()), None)
        if match is None:
            names = ", ".join(n for _, n in everyone) or "none yet"
            raise NotFound(
                f"There is no quadrant called {name!r} here.",
                hint=f"Quadrants: {names}.",
            )
        if match[0] not in {q[0] for q in organisable}:
            raise authorisation.refusal(PROPOSE_ENTRY, match[1])
        return match[0]

    # --- the form -----------------------------------------------------------------------------

    def form(self, actor: Actor, metadata: str) -> Form:
        meta = _decode(metadata)
        organisable = self._organisable(actor)
        fixed = meta.get("q")
        if fixed is not None and fixed not in {q[0] for q in organisable}:
            raise authorisation.refusal(PROPOSE_ENTRY)
        first = self._first_page(organisable if fixed is None else None)
        answers = meta.get("v")
        quadrant_id = fixed if fixed is not None else parse_id((answers or {}).get("quadrant"))
        if answers is None or quadrant_id is None:
            second = Page("Who to invite", None, (self._emails_field(),))
        else:
            second = self._second_page(actor, quadrant_id, _values(answers))
        return Form(
            callback_id=CALLBACK_ID,
            title=TITLE,
            pages=(first, second),
            submit_label="Send the poll",
            private_metadata=metadata,
        )

    def _first_page(self, choose_from: Sequence[tuple[int, str]] | None) -> Page:
        fields: list[Field] = []
        if choose_from is not None:
            fields.append(
                SelectField(
                    "quadrant",
                    "Which quadrant?",
                    options=tuple(Option(str(qid), name) for qid, name in choose_from),
                )
            )
        fields += [
            TextField(
                "title",
                "Title",
                max_length=TITLE_LIMIT,
                placeholder="e.g. West quadrant: summer term priorities",
            ),
            TextField(
                "purpose",
                "What is it for?",
                multiline=True,
                max_length=PURPOSE_LIMIT,
                required=False,
            ),
            ChoiceField(
                "mode",
                "How will you meet?",
                options=(Option(Mode.IN_PERSON.value, "In person"), Option(Mode.ONLINE, "Online")),
                initial=Mode.IN_PERSON.value,
            ),
            TextField(
                "venue",
                "Venue",
                max_length=VENUE_LIMIT,
                required=False,
                help="Needed for a meeting in person.",
            ),
            TextField(
                "online_url",
                "Online link",
                max_length=LINK_LIMIT,
                required=False,
                help="Optional: a meeting link you already have (https://…).",
            ),
        ]
        lengths = tuple(Option(str(m), _minutes_text(m)) for m in LENGTHS)
        for n in range(1, MAX_SLOTS + 1):
            date_id, time_id, minutes_id = _slot_fields(n)
            fields += [
                DateField(
                    date_id,
                    f"Time {n}: date",
                    required=False,
                    help="Offer 2 to 8 times; leave the rest empty." if n == 1 else None,
                ),
                TimeField(time_id, f"Time {n}: starts at", required=False),
                SelectField(
                    minutes_id,
                    f"Time {n}: length",
                    options=lengths,
                    initial=str(DEFAULT_MINUTES),
                    required=False,
                ),
            ]
        fields += [
            DateField("deadline_date", "Voting closes on"),
            TimeField(
                "deadline_time",
                "Voting closes at",
                help="Voting must close before the first time offered.",
            ),
        ]
        intro = (
            "Offer the times you could meet; everyone invited says Yes, If need be or No to each,"
            " and I suggest the best when voting closes."
        )
        return Page(TITLE, intro, tuple(fields))

    def _emails_field(self) -> TextField:
        return TextField(
            "add_emails",
            "Also invite (e-mail addresses)",
            multiline=True,
            max_length=EMAILS_LIMIT,
            required=False,
            help="People in the directory, one per line or separated by commas.",
        )

    def _second_page(self, actor: Actor, quadrant_id: int, answers: Mapping[str, Any]) -> Page:
        tenant_id = tenant_of(actor)
        with self.db.session() as s:
            invitees = default_invitees(s, tenant_id=tenant_id, quadrant_id=quadrant_id)
        fields: list[Field] = []
        if invitees:
            fields.append(
                MultiChoiceField(
                    "invitees",
                    "Invite",
                    options=tuple(_invitee_option(i) for i in invitees),
                    initial=tuple(str(i.person_id) for i in invitees),
                    required=False,
                )
            )
        fields.append(self._emails_field())
        draft = self._draft(actor, quadrant_id, answers)
        return Page("Who to invite", _intro(draft, invitees), tuple(fields))

    # --- reading page 1 -----------------------------------------------------------------------

    def _draft(self, actor: Actor, quadrant_id: int, v: Mapping[str, Any]) -> Draft:
        """Page 1's answers checked: the times, deadline, problems and warnings."""
        calendar = self.calendars(tenant_of(actor))
        now = self.clock.now()
        problems: dict[str, list[str]] = {}

        def problem(field_id: str, message: str) -> None:
            problems.setdefault(field_id, []).append(message)

        slots: list[tuple[int, datetime, int]] = []
        for n in range(1, MAX_SLOTS + 1):
            date_id, time_id, minutes_id = _slot_fields(n)
            day, start = v.get(date_id), v.get(time_id)
            if isinstance(day, date) and not isinstance(start, time):
                problem(time_id, "Give a start time for this date, or clear the date.")
            elif isinstance(start, time) and not isinstance(day, date):
                problem(date_id, "Give a date for this start time, or clear the time.")
            elif isinstance(day, date) and isinstance(start, time):
                minutes = parse_id(v.get(minutes_id)) or DEFAULT_MINUTES
                slots.append((n, calendar.at(day, start), minutes))
        deadline_day, deadline_at = v.get("deadline_date"), v.get("deadline_time")
        if isinstance(deadline_day, date) and isinstance(deadline_at, time):
            deadline = calendar.at(deadline_day, deadline_at)
        else:
            deadline = now  # the fields' own rules have refused it already
        found, warnings = check_slots(
            [SlotInput(_slot_fields(n)[0], starts, minutes) for n, starts, minutes in slots],
            deadline=deadline,
            deadline_field="deadline_date",
            now=now,
            calendar=calendar,
        )
        for p in found:
            problem(_slot_fields(1)[0] if p.field == FIRST_SLOT_FIELD else p.field, p.message)
        sends = calendar.next_slot(now)
        if deadline > now and sends >= deadline:
            problem(
                "deadline_date",
                f"The poll would only go out {deadline_text(calendar, sends)} (I message people"
                " on school days, in school hours): give people time to answer.",
            )
        mode = str(v.get("mode") or Mode.IN_PERSON.value)
        if mode == Mode.IN_PERSON and not str(v.get("venue") or "").strip():
            problem("venue", "Say where you will meet, or choose Online.")
        link = str(v.get("online_url") or "").strip()
        if link and not link.startswith("https://"):
            problem("online_url", "A meeting link starts with https://.")
        return Draft(
            quadrant_id,
            tuple(slots),
            deadline,
            {k: " ".join(msgs) for k, msgs in problems.items()},
            warnings,
        )

    # --- pages sent ---------------------------------------------------------------------------

    def submit(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        meta = _decode(metadata)
        if page == 0:
            return self._first_sent(actor, meta, values)
        answers = meta.get("v")
        if answers is None:
            raise UserError("This form is out of date: run `/slis meeting new` again.")
        p1 = _values(answers)
        quadrant_id = self._quadrant_of(actor, meta, p1)
        draft = self._draft(actor, quadrant_id, p1)
        if draft.problems:
            # Time has moved on since page 1 was sent (a time or the deadline has passed).
            first = {k: v for k, v in meta.items() if k != "v"}
            return ShowPage(self.form(actor, _encode(first)), 0, p1, draft.problems)
        chosen = self._invitees(actor, quadrant_id, values)
        if isinstance(chosen, PageErrors):
            return chosen
        return self._send(actor, draft, p1, chosen)

    def back(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        meta = _decode(metadata)
        p1 = _values(meta.get("v") or {})
        return ShowPage(self.form(actor, metadata), 0, p1)

    def _quadrant_of(self, actor: Actor, meta: Mapping[str, Any], v: Mapping[str, Any]) -> int:
        organisable = {q[0] for q in self._organisable(actor)}
        quadrant_id = meta.get("q") if meta.get("q") is not None else parse_id(v.get("quadrant"))
        if quadrant_id is None or quadrant_id not in organisable:
            raise authorisation.refusal(PROPOSE_ENTRY)
        return int(quadrant_id)

    def _first_sent(
        self, actor: Actor, meta: Mapping[str, Any], values: Mapping[str, FormValue]
    ) -> FormStep:
        if meta.get("q") is None:
            chosen = parse_id(values.get("quadrant"))
            if chosen is None or chosen not in {q[0] for q in self._organisable(actor)}:
                return PageErrors({"quadrant": "Choose a quadrant whose meetings you organise."})
            quadrant_id = chosen
        else:
            quadrant_id = self._quadrant_of(actor, meta, values)
        draft = self._draft(actor, quadrant_id, values)
        if draft.problems:
            return PageErrors(draft.problems)
        carried = {k: v for k, v in meta.items() if k != "v"}
        carried["v"] = _plain(values, draft)
        metadata = _encode(carried)
        if not _fits(metadata):
            texts = ("purpose", "title", "venue", "online_url")
            longest = max(texts, key=lambda k: len(str(values.get(k) or "")))
            return PageErrors({longest: "Please shorten this: the form cannot carry so much text."})
        return ShowPage(self.form(actor, metadata), 1)

    def _invitees(
        self, actor: Actor, quadrant_id: int, values: Mapping[str, FormValue]
    ) -> list[Invitee] | PageErrors:
        """The people ticked and added on page 2, each once; problems naming bad addresses."""
        tenant_id = tenant_of(actor)
        with self.db.session() as s:
            defaults = {
                i.person_id: i
                for i in default_invitees(s, tenant_id=tenant_id, quadrant_id=quadrant_id)
            }
            ticked = values.get("invitees")
            chosen: dict[int, Invitee] = {}
            for pid in ticked if isinstance(ticked, list) else []:
                if pid.isdigit() and int(pid) in defaults:
                    chosen[int(pid)] = defaults[int(pid)]
            text = str(values.get("add_emails") or "")
            addresses = [a for a in _SPLIT.split(text.strip()) if a]
            malformed = [a for a in addresses if not _EMAIL.match(a)]
            if malformed:
                return PageErrors(
                    {"add_emails": f"These are not e-mail addresses: {', '.join(malformed)}."}
                )
            found = _people_by_email(s, tenant_id, addresses)
            unknown = [a for a in addresses if a.lower() not in found]
            if unknown:
                return PageErrors(
                    {
                        "add_emails": "Not in the directory: "
                        f"{', '.join(unknown)}. Check the spelling, or ask your administrator"
                        " to add them."
                    }
                )
            for person in found.values():
                if person.person_id not in chosen:
                    chosen[person.person_id] = defaults.get(person.person_id, person)
        if not chosen:
            field_id = "invitees" if defaults else "add_emails"
            return PageErrors({field_id: "Invite at least one person."})
        return sorted(chosen.values(), key=lambda i: (i.name.casefold(), i.person_id))

    def _send(
        self, actor: Actor, draft: Draft, v: Mapping[str, Any], invitees: Sequence[Invitee]
    ) -> Finished:
        """Create the meeting, its slots and invitees, and queue the poll and the tally."""
        tenant_id = tenant_of(actor)
        assert actor.person_id is not None
        calendar = self.calendars(tenant_id)
        now = self.clock.now()
        mode = Mode(str(v.get("mode") or Mode.IN_PERSON.value))
        venue = str(v.get("venue") or "").strip()
        link = str(v.get("online_url") or "").strip()
        with self.db.session() as s:
            # The counter's upsert first: on SQLite it takes the write lock before any read.
            reference = next_reference(s, tenant_id, calendar.local(now).year)
            meeting = Meeting(
                tenant_id=tenant_id,
                reference=reference,
                quadrant_id=draft.quadrant_id,
                title=str(v.get("title") or "").strip(),
                purpose=str(v.get("purpose") or "").strip(),
                mode=mode.value,
                venue=venue or None,
                online_url=link or None,
                created_by=actor.person_id,
                chair_person_id=actor.person_id,
                state=State.POLLING.value,
                vote_deadline=draft.deadline,
                created_at=now,
                updated_at=now,
            )
            s.add(meeting)
            s.flush()
            assert meeting.id is not None
            for position, (_, starts, minutes) in enumerate(
                sorted(draft.slots, key=lambda t: t[1]), start=1
            ):
                s.add(
                    MeetingSlot(
                        tenant_id=tenant_id,
                        meeting_id=meeting.id,
                        starts_at=starts,
                        ends_at=starts + timedelta(minutes=minutes),
                        position=position,
                    )
                )
            for invitee in invitees:
                s.add(
                    MeetingInvitee(
                        tenant_id=tenant_id,
                        meeting_id=meeting.id,
                        person_id=invitee.person_id,
                        source=invitee.source,
                    )
                )
            s.flush()
            audit.record(
                s,
                tenant_id=tenant_id,
                at=now,
                action="meeting.create",
                subject=reference,
                actor=actor,
                detail={"slots": len(draft.slots), "invitees": len(invitees)},
            )
            reached, no_chat = announce_poll(s, meeting, calendar, now)
        sends = calendar.next_slot(now)
        reply = present.proposed(
            reference,
            meeting.title,
            reached,
            None if sends == now else deadline_text(calendar, sends),
            no_chat,
            deadline_text(calendar, draft.deadline),
        )
        return Finished(reply, "Meeting proposed")


# --- helpers ----------------------------------------------------------------------------------


def _people_by_email(s: Session, tenant_id: int, addresses: Sequence[str]) -> dict[str, Invitee]:
    """People of the tenant by lower-case e-mail, as invitees the chair added."""
    if not addresses:
        return {}
    wanted = sorted({a.lower() for a in addresses})
    rows = s.exec(
        select(
            Person.id,
            Person.name,
            Person.email,
            exists().where(
                col(ChatIdentity.tenant_id) == tenant_id,
                col(ChatIdentity.person_id) == col(Person.id),
            ),
        ).where(Person.tenant_id == tenant_id, func.lower(Person.email).in_(wanted))
    ).all()
    return {
        email.lower(): Invitee(pid, name, "added", bool(chat), "added by the chair")
        for pid, name, email, chat in rows
        if pid is not None
    }


def _invitee_option(i: Invitee) -> Option:
    label = i.name if i.has_chat else f"{i.name} (no chat account)"
    note = i.reason if len(i.reason) <= OPTION_NOTE else i.reason[: OPTION_NOTE - 1] + "…"
    return Option(str(i.person_id), label, note or None)


def _intro(draft: Draft, invitees: Sequence[Invitee]) -> str:
    """Page 2's introduction: what to check about the times, and who the poll cannot reach."""
    parts: list[str] = []
    if draft.warnings:
        numbers = {f"slot_{n}_date": n for n, _, _ in draft.slots}
        lines = [f"• time {numbers.get(w.field, '?')}: {w.message}" for w in draft.warnings]
        parts.append("*Check before you send:*\n" + "\n".join(lines))
    missing = [i.name for i in invitees if not i.has_chat]
    if missing:
        has = "has" if len(missing) == 1 else "have"
        parts.append(
            f"{', '.join(missing)} {has} no chat account, so will not get the poll:"
            " ask them another way."
        )
    parts.append("Untick anyone who should not come; add others by e-mail address.")
    text = "\n\n".join(parts)
    return text if len(text) <= 2000 else text[:1999] + "…"


def _minutes_text(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{minutes} minutes"
    words = "1 hour" if hours == 1 else f"{hours} hours"
    return words if not rest else f"{words} {rest} minutes"


def _plain(values: Mapping[str, FormValue], draft: Draft) -> dict[str, str]:
    """Page 1's answers as short strings, for the metadata (only the times that count)."""
    keep = {"quadrant", "title", "purpose", "mode", "venue", "online_url"}
    keep |= {"deadline_date", "deadline_time"}
    for n, _, _ in draft.slots:
        keep |= set(_slot_fields(n))
    out: dict[str, str] = {}
    for key in sorted(keep):
        value = values.get(key)
        if isinstance(value, time):
            out[key] = value.strftime("%H:%M")
        elif isinstance(value, date):
            out[key] = value.isoformat()
        elif isinstance(value, str) and value:
            out[key] = value
    return out


def _values(plain: Mapping[str, Any]) -> dict[str, FormValue]:
    """The metadata's strings back as form values (dates and times typed)."""
    out: dict[str, FormValue] = {}
    for key, value in plain.items():
        text = str(value)
        try:
            if key.endswith("_date"):
                out[key] = date.fromisoformat(text)
            elif key.endswith("_time"):
                out[key] = time.fromisoformat(text)
            else:
                out[key] = text
        except ValueError:
            continue
    return out


def _fits(metadata: str) -> bool:
    """Whether the metadata fits the form, and still fits once a platform wraps it in JSON of
    its own (Slack: 3,000 characters for ours, escaped, and its own few)."""
    escaped = json.dumps(metadata, ensure_ascii=False)
    return len(metadata) <= METADATA_LIMIT and len(escaped) <= WRAPPED_LIMIT


def _encode(meta: Mapping[str, Any]) -> str:
    return json.dumps(meta, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _decode(metadata: str) -> dict[str, Any]:
    if not metadata:
        return {}
    try:
        meta = json.loads(metadata)
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or (meta.get("q") is not None and parse_id(meta["q"]) is None):
        raise UserError("This form is out of date: run `/slis meeting new` again.")
    return meta
