"""The authorisation matrix: every command, button and form in `bot.authorisation`'s table, run
through the core's real entry points as every role, answers as the table says — allowed (no
refusal), or refused with the table's words for who may — and no refusal shows another school's
name, a request's content or anyone else's name.

One world per table entry (tests/services/support_world.py's Essex, with a partnership, a
healthcheck round, a reminder and a North East meeting added), so an action one actor takes does
not change what the next one is refused. Refusals come from the role gate (help, router, button
and form gate), from the services' scope checks, or, for a request or meeting the actor cannot
see, as "I can't find …", the same words whether it exists or not, naming who may see one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import select

from bot import authorisation
from bot.authorisation import ENTRIES, Entry, Kind, Subject, allows, may_try, who_may
from bot.core import Core
from bot.forms import Form
from bot.replies.reminders import CANCEL_ACTION
from bot.services.healthcheck.prompts import START_ACTION
from bot.services.healthcheck.templates import shipped_templates
from bot.services.identity import grants_for
from bot.services.support.catalogue import shipped_catalogue
from bot.types import Actor, ChatUser, Platform, Reply, Role, ScopeKind
from storage.engine import Database
from storage.meeting_tables import (
    Meeting,
    MeetingAction,
    MeetingAgendaItem,
    MeetingInvitee,
    MeetingSlot,
)
from storage.models import Partnership, PartnershipMembership, Person, RoleAssignment, School
from storage.support_tables import SupportEvent
from storage.survey_tables import SurveyInvitation, SurveyRound
from tests.services.support_world import (
    BOARD,
    CHAIR,
    COUNTY,
    ESTUARY,
    HARBOUR,
    HEAD,
    LIGHTHOUSE,
    MARSHLAND,
    NE,
    NO_SCHOOL,
    SALTINGS_LEAD,
    WEST_CHAIR,
    WEST_HEAD,
    SupportWorld,
    build_support_world,
)

PARTNERSHIP = "Harbour Triad"
NEEDED = "A review of our SEN provision before the spring term."
# The ten askers of the issue, by what they are, and who plays them in the world.
ACTORS = {
    "head of the school": HEAD,
    "head of another school": WEST_HEAD,
    "partnership lead": NO_SCHOOL,
    "chair of this quadrant": CHAIR,
    "chair of another quadrant": WEST_CHAIR,
    "alliance lead with the offer": "eve",
    "alliance lead without it": SALTINGS_LEAD,
    "board member": BOARD,
    "LA officer": COUNTY,
    "unlinked user": "",
}
SEE_REQUEST = authorisation.command("support show")
SEE_MEETING = authorisation.command("meeting show")


@dataclass
class Matrix:
    """The world, the core over it, and the subjects the entries act on."""

    w: SupportWorld
    core: Core
    ids: dict[str, int] = field(default_factory=dict)
    reference: dict[int, str] = field(default_factory=dict)

    def actor(self, handle: str) -> Actor:
        if not handle:
            chat = ChatUser(Platform.SLACK, "T881", "U0NOBODY")
            return Actor(chat, self.w.essex.tenant_id, "Essex", None, None)
        return self.w.actor(handle)

    def person(self, handle: str) -> int:
        return self.w.person(handle)

    # --- support requests, driven to a state by the people whose move it is

    def request(self, state: str) -> int:
        w, s = self.w, self.w.service
        rid = w.submit()
        ada, eve, cara = w.actor(HEAD), w.actor("eve"), w.actor(CHAIR)
        steps: dict[str, list[Callable[[], Any]]] = {
            "offered": [],
            "escalated": [lambda: s.escalate(cara, rid, "no takers")],
            "claimed": [lambda: s.claim(eve, rid)],
        }
        steps["proposed"] = [
            *steps["claimed"],
            lambda: s.propose(
                eve,
                rid,
                days=Decimal(2),
                starts_on=date(2026, 11, 9),
                ends_on=date(2026, 11, 10),
                note="",
            ),
        ]
        steps["agreed"] = [*steps["proposed"], lambda: s.accept(ada, rid)]
        steps["in_delivery"] = [*steps["agreed"], lambda: s.start(eve, rid)]
        steps["delivered"] = [*steps["in_delivery"], lambda: s.deliver(eve, rid)]
        for step in steps[state]:
            step()
        assert w.request(rid).state == state
        self.reference[rid] = w.request(rid).reference
        return rid

    def request_subject(self, rid: int) -> Subject:
        row = self.w.request(rid)
        held = row.claimed_by_alliance_id
        offered = () if held is not None else self.alliances(ESTUARY, MARSHLAND)
        return Subject.of(
            school=self.w.essex.schools[HARBOUR],
            quadrant=self.w.essex.quadrants[NE],
            offered=offered if row.state in ("offered",) else (),
            holding=held,
        )

    def alliances(self, *names: str) -> tuple[int, ...]:
        return tuple(self.w.essex.alliances[n] for n in names)

    def question(self, rid: int) -> int:
        self.w.service.question(self.w.actor("eve"), rid, "Which year groups?")
        with self.w.db.session() as s:
            event = s.exec(
                select(SupportEvent).where(
                    SupportEvent.request_id == rid, SupportEvent.action == "question"
                )
            ).one()
            assert event.id is not None
            return event.id


def build(db: Database) -> Matrix:
    """Essex with a partnership led by Nell, a round asking Ada, her reminder, and a North East
    meeting chaired by Cara with Ada and Nell invited and an action for Nell."""
    w = build_support_world(db)
    core = Core(db, clock=w.clock, catalogues=_catalogues())
    m = Matrix(w, core)
    essex = w.essex
    now = w.clock.now()
    with db.session() as s:
        p = Partnership(tenant_id=essex.tenant_id, name=PARTNERSHIP, kind="triad")
        p.quadrant_id = essex.quadrants[NE]
        s.add(p)
        s.flush()
        assert p.id is not None
        m.ids["partnership"] = p.id
        for school in (HARBOUR, LIGHTHOUSE):
            s.add(
                PartnershipMembership(
                    tenant_id=essex.tenant_id,
                    partnership_id=p.id,
                    school_id=essex.schools[school],
                )
            )
        s.add(
            RoleAssignment(
                tenant_id=essex.tenant_id,
                person_id=m.person(NO_SCHOOL),
                role=Role.PARTNERSHIP_LEAD.value,
                scope_kind=ScopeKind.PARTNERSHIP.value,
                scope_id=p.id,
            )
        )
        template = shipped_templates()["school_checkin"]
        survey = SurveyRound(
            tenant_id=essex.tenant_id,
            template_id=template.id,
            template_snapshot=template.snapshot(),
            title=template.title,
            launched_by=m.person(COUNTY),
            audience_role="head",
            audience_scope_kind="county",
            audience_label="Heads, whole local authority",
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=14),
            anonymous=False,
            nudge_plan={"after_school_days": [3], "last_day": True},
            status="open",
            created_at=now - timedelta(days=1),
        )
        s.add(survey)
        s.flush()
        assert survey.id is not None
        m.ids["round"] = survey.id
        invitation = SurveyInvitation(
            tenant_id=essex.tenant_id,
            round_id=survey.id,
            person_id=m.person(HEAD),
            subject_kind="school",
            subject_id=essex.schools[HARBOUR],
            response_subject_kind="school",
            response_subject_id=essex.schools[HARBOUR],
        )
        s.add(invitation)
        s.flush()
        assert invitation.id is not None
        m.ids["invitation"] = invitation.id
        meeting = Meeting(
            tenant_id=essex.tenant_id,
            reference="M-2026-0001",
            quadrant_id=essex.quadrants[NE],
            title="North East quadrant meeting",
            purpose="Priorities for the spring term.",
            created_by=m.person(CHAIR),
            chair_person_id=m.person(CHAIR),
            state="polling",
            vote_deadline=now + timedelta(days=7),
            created_at=now,
            updated_at=now,
        )
        s.add(meeting)
        s.flush()
        assert meeting.id is not None
        m.ids["meeting"] = meeting.id
        starts = now + timedelta(days=14)
        slot = MeetingSlot(
            tenant_id=essex.tenant_id,
            meeting_id=meeting.id,
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
            position=1,
        )
        s.add(slot)
        for handle in (HEAD, NO_SCHOOL):
            s.add(
                MeetingInvitee(
                    tenant_id=essex.tenant_id,
                    meeting_id=meeting.id,
                    person_id=m.person(handle),
                    source="partnership_lead",
                )
            )
        action = MeetingAction(
            tenant_id=essex.tenant_id,
            meeting_id=meeting.id,
            what="Share the moderation timetable",
            owner_person_id=m.person(NO_SCHOOL),
            due_on=date(2026, 11, 20),
            created_at=now,
        )
        s.add(action)
        item = MeetingAgendaItem(
            tenant_id=essex.tenant_id,
            meeting_id=meeting.id,
            added_by=m.person(HEAD),
            text="Writing moderation",
            created_at=now,
        )
        s.add(item)
        s.flush()
        assert item.id is not None
        m.ids["item"] = item.id
        assert slot.id is not None and action.id is not None
        m.ids["slot"] = slot.id
        m.ids["action"] = action.id
    created = m.core.reminders.create(w.actor(HEAD), "me tomorrow 9am send the attendance return")
    m.ids["reminder"] = created.id
    return m


def _catalogues() -> Any:
    catalogue = shipped_catalogue()

    class Fixed:
        def __call__(self, _tenant_id: int) -> Any:
            return catalogue

    return Fixed()


# --- how each entry is run, and on what subject ------------------------------------------------

Outcome = Reply | None  # None: allowed through to a form or a page
Runner = Callable[["Matrix", Actor], Coroutine[Any, Any, Outcome]]


@dataclass(frozen=True)
class Case:
    """How to run one entry for an actor, and the facts its scopes are checked against."""

    run: Runner
    subject: Subject = field(default_factory=Subject)
    seeing: Entry | None = None  # the entry whose "can't find" stands for a refusal
    # A form that carries an action (a support card's) is also that action's: both must allow.
    also: Entry | None = None


def command(text: str) -> Runner:
    async def run(m: Matrix, actor: Actor) -> Outcome:
        if m.core.router.opens_form(text):
            step = await m.core.open_form(actor, text)
            return step if isinstance(step, Reply) else None
        return await m.core.command(actor, text)

    return run


def button(action_id: str, value: str) -> Runner:
    async def run(m: Matrix, actor: Actor) -> Outcome:
        pressed = await m.core.button(actor, action_id, value)
        assert pressed is not None, action_id
        return pressed.step if isinstance(pressed.step, Reply) else None

    return run


def form(callback_id: str, metadata: str) -> Runner:
    async def run(m: Matrix, actor: Actor) -> Outcome:
        found = await m.core.form_of(actor, callback_id, metadata)
        return None if isinstance(found, Form) else found

    return run


def cases(m: Matrix, entry: Entry) -> Case:
    """The case of `entry` in a fresh world `m` (subjects made as the entry needs them)."""
    essex = m.w.essex
    ne = essex.quadrants[NE]
    meeting, ref = m.ids["meeting"], "M-2026-0001"
    meeting_subject = Subject.of(
        quadrant=ne,
        invitee=[m.person(HEAD), m.person(NO_SCHOOL)],
        meeting_chair=[m.person(CHAIR)],
        owner=[m.person(NO_SCHOOL)],
        note_taker=[],
    )
    see_meeting = SEE_MEETING
    k = (entry.kind, entry.key)
    simple = {
        "help": "help",
        "whoami": "whoami",
        "school": f"school {LIGHTHOUSE}",
        "partnership": f"partnership {PARTNERSHIP}",
        "quadrant": "quadrant North East",
        "remind": "remind me tomorrow 9am send the attendance return",
        "reminders": "reminders",
        "healthcheck": "healthcheck",
        "healthcheck launch": "healthcheck launch",
        "support": "support",
        "support list": "support list open",
        "support list all": "support list all",
        "support stats": "support stats North East",
        "support ledger": "support ledger North East",
        "meeting": "meeting list",
        "meeting new": "meeting new North East",
        "actions": "actions",
        "audit": "audit",
    }
    if entry.kind is Kind.COMMAND and entry.key in simple:
        subject = Subject.of(quadrant=ne) if "North East" in simple[entry.key] else Subject()
        return Case(command(simple[entry.key]), subject)
    request_states = {
        "claim": "offered",
        "decline": "offered",
        "question": "offered",
        "reply": "offered",
        "propose": "claimed",
        "accept": "proposed",
        "ask_changes": "proposed",
        "start": "agreed",
        "deliver": "in_delivery",
        "close": "delivered",
        "withdraw": "offered",
        "escalate": "offered",
        "assign": "escalated",
    }
    support_action = entry.key.removeprefix("slis.support.")
    if entry.kind is Kind.BUTTON and support_action in request_states:
        rid = m.request(request_states[support_action])
        value = str(rid)
        if support_action == "reply":
            value = f"{rid}:{m.question(rid)}"
        if support_action == "assign":
            value = f"{rid}:{m.alliances(MARSHLAND)[0]}"
        return Case(button(entry.key, value), m.request_subject(rid), SEE_REQUEST)
    match k:
        case (Kind.COMMAND, "remind others"):
            text = "remind heads in North East every Monday at 8:00 the survey closes Friday"
            return Case(command(text), Subject.of(quadrant=ne))
        case (Kind.COMMAND, "remind cancel"):
            return Case(
                command(f"remind cancel {m.ids['reminder']}"), Subject.of(owner=[m.person(HEAD)])
            )
        case (Kind.BUTTON, "reminder:cancel"):
            return Case(
                button(CANCEL_ACTION, str(m.ids["reminder"])), Subject.of(owner=[m.person(HEAD)])
            )
        case (Kind.COMMAND, "healthcheck status"):
            return Case(
                command(f"healthcheck status {m.ids['round']}"),
                Subject.of(launcher=[m.person(COUNTY)]),
            )
        case (Kind.COMMAND, "healthcheck report"):
            return Case(
                command(f"healthcheck report {PARTNERSHIP}"),
                Subject(
                    schools=frozenset((essex.schools[HARBOUR], essex.schools[LIGHTHOUSE])),
                    partnerships=frozenset((m.ids["partnership"],)),
                    quadrants=frozenset((ne,)),
                ),
            )
        case (Kind.COMMAND, "support list quadrant"):
            return Case(command("support list quadrant"), Subject.of(quadrant=ne))
        case (Kind.COMMAND, "support show"):
            rid = m.request("offered")
            return Case(
                command(f"support show {m.reference[rid]}"), m.request_subject(rid), SEE_REQUEST
            )
        case (Kind.BUTTON, "slis.support.ask"):
            return Case(button(entry.key, ""), Subject.of(school=essex.schools[HARBOUR]))
        case (Kind.FORM, "slis.support.ask"):
            return Case(form(entry.key, ""), Subject.of(school=essex.schools[HARBOUR]))
        case (Kind.BUTTON, "slis.support.suggest"):
            return Case(
                button("slis.support.suggest:1", f"{m.ids['partnership']}|trust fell"),
                Subject.of(quadrant=ne),
            )
        case (Kind.FORM, "slis.support.act"):
            rid = m.request("offered")
            withdraw = authorisation.button("slis.support.withdraw")
            run = form(entry.key, f"{rid}:withdraw")
            return Case(run, m.request_subject(rid), SEE_REQUEST, withdraw)
        case (Kind.BUTTON, "slis.healthcheck.start") | (Kind.FORM, "slis.healthcheck.answer"):
            run = (button if entry.kind is Kind.BUTTON else form)(
                entry.key if entry.kind is Kind.FORM else START_ACTION, str(m.ids["invitation"])
            )
            return Case(run, Subject.of(addressee=[m.person(HEAD)]))
        case (Kind.FORM, "slis.healthcheck.launch"):
            return Case(form(entry.key, ""))
        case (Kind.FORM, "slis.meeting.new"):
            return Case(form(entry.key, f'{{"q": {ne}}}'), Subject.of(quadrant=ne))
    meeting_commands = {
        "meeting show": f"meeting show {ref}",
        "meeting tally": f"meeting tally {ref}",
        "meeting agenda": f"meeting agenda {ref} Sharing our writing moderation",
        "meeting order": f"meeting order {ref}",
        "meeting minutes": f"meeting minutes {ref}",
        "meeting notetaker": f"meeting notetaker {ref} me",
        "meeting change": f"meeting change {ref}",
        "meeting cancel": f"meeting cancel {ref}",
    }
    if entry.kind is Kind.COMMAND and entry.key in meeting_commands:
        return Case(command(meeting_commands[entry.key]), meeting_subject, see_meeting)
    name = entry.key.removeprefix("slis.meeting.")
    values = {
        "vote": f"{meeting}:{m.ids['slot']}:yes",
        "book": f"{meeting}:{m.ids['slot']}",
        "done": str(m.ids["action"]),
        "agenda_order": f"{meeting}:{m.ids['item']}",
        "minutes": f"{meeting}:0",
    }
    if entry.kind is Kind.BUTTON:
        action_id = {"rsvp": "slis.meeting.rsvp.going", "vote": "slis.meeting.vote.yes"}.get(
            name, entry.key
        )
        value = values.get(name, str(meeting))
        return Case(button(action_id, value), meeting_subject, see_meeting)
    metadata = values.get(name, str(meeting))
    return Case(form(entry.key, metadata), meeting_subject, see_meeting)


# --- the matrix ----------------------------------------------------------------------------------


def _text(reply: Reply) -> str:
    parts = [reply.text]
    for block in reply.blocks:
        for value in vars(block).values():
            if isinstance(value, str):
                parts.append(value)
            elif isinstance(value, tuple):
                parts.extend(str(v) for v in value)
    return "\n".join(parts)


def _refused_as(reply: Outcome, entry: Entry, seeing: Entry | None) -> str | None:
    """Which refusal the reply is: "table", "unseen", "other" (an error that reads like a
    refusal but with other words), or None (not a refusal)."""
    if reply is None or not reply.is_error:
        return None
    text = _text(reply)
    if f"Only {who_may(entry)} may {entry.does}" in text:
        return "table"
    if seeing is not None and "can't find" in text and f"Only {who_may(seeing)} may" in text:
        return "unseen"
    if reply.text.startswith("Only ") or "can't find" in reply.text:
        return "other"
    return None


def _leaks(m: Matrix, actor: Actor, text: str) -> list[str]:
    """Another school's name, the request's words, or other people's names in `text`."""
    with m.w.db.session() as s:
        own = {g.scope_id for g in grants_for(s, m.w.essex.tenant_id, actor.person_id or 0)}
        schools = [
            sc.name
            for sc in s.exec(select(School).where(School.tenant_id == m.w.essex.tenant_id))
            if sc.id not in own
        ]
        people = [
            p.name for p in s.exec(select(Person)) if p.id != actor.person_id and p.name in text
        ]
    return [x for x in (*schools, NEEDED, *people) if x in text]


def _keys(kind: Kind) -> set[str]:
    return {e.key for e in ENTRIES if e.kind is kind}


def test_every_command_button_and_form_has_an_entry(db: Database) -> None:
    """Nothing the bot answers is missing from the table, and nothing in it is stale."""
    core = Core(db)
    commands = {c.name for c in core.router.commands}
    assert commands <= _keys(Kind.COMMAND)
    assert {k.split()[0] for k in _keys(Kind.COMMAND)} == commands
    assert set(core.forms) == _keys(Kind.FORM)
    prefixes = ("slis.support.", "slis.meeting.")
    buttons = _keys(Kind.BUTTON)
    from bot.services.meetings.service import Meetings
    from bot.services.support.forms import FORM_ACTIONS, IMMEDIATE

    meetings = Meetings(db, core.clock, core.calendar.for_tenant)
    handled = {
        START_ACTION,
        CANCEL_ACTION,
        *(prefixes[0] + a for a in (*IMMEDIATE, *FORM_ACTIONS, "ask", "suggest")),
        *(prefixes[1] + a for a in meetings._owners),
    }
    assert handled == buttons


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: f"{e.kind.value}:{e.key}")
def test_every_entry_as_every_role(db: Database, entry: Entry) -> None:
    m = build(db)
    case = cases(m, entry)
    actors = {label: m.actor(handle) for label, handle in ACTORS.items()}
    expected = {
        label: allows(a, entry, case.subject)
        and (case.also is None or allows(a, case.also, case.subject))
        for label, a in actors.items()
    }
    # Those refused go first, so that what an allowed one does cannot change their answer.
    order = sorted(actors, key=lambda label: expected[label])
    problems: list[str] = []
    for label in order:
        actor = actors[label]
        reply = asyncio.run(case.run(m, actor))
        kind = _refused_as(reply, entry, case.seeing)
        if kind != "table" and case.also is not None:
            kind = _refused_as(reply, case.also, case.seeing) or kind
        if not actor.linked and entry.needs_link:
            if reply is None or "couldn't match you" not in _text(reply):
                problems.append(f"{label}: not told how to be linked: {reply}")
            continue
        if expected[label]:
            if kind is not None:
                problems.append(f"{label}: allowed by the table but refused: {reply}")
            continue
        assert reply is not None
        gate_refused = not may_try(actor, entry)
        if kind == "table" or (kind == "unseen" and not gate_refused):
            leaks = _leaks(m, actor, _text(reply))
            if leaks:
                problems.append(f"{label}: the refusal shows {leaks}: {_text(reply)}")
            continue
        problems.append(f"{label}: refused by the table but answered: {_text(reply)[:300]}")
    assert not problems, "\n".join(problems)
