"""What people see of meetings on asking: `/slis meeting list`, `/slis meeting show <ref>`
and `/slis actions`.

"My meetings" are those of the quadrants the actor organises (every quadrant for a county LA
officer), those they chair, take notes for or proposed, and those they are invited to; Board
members and administrators see all of their local authority's. `/slis actions` always shows
the actor's own open actions and, for an organiser, a second section with the open actions of
their quadrants' meetings by owner (`/slis actions mine` leaves it off; `/slis actions done`
lists what they finished in the last 30 days).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, true
from sqlmodel import Session, col, select

from bot.errors import UserError
from bot.ports import Clock
from bot.replies import meetings_follow as present
from bot.services.calendar import TenantCalendar
from bot.services.meetings.agenda import ORDERABLE_STATES, add_refusal, agenda, items_of
from bot.services.meetings.common import (
    SEE_ALL_ROLES,
    State,
    find_meeting,
    may_manage,
    names_of,
    organiser_quadrants,
    tenant_of,
)
from bot.services.meetings.minutes import action_views, actions_of, record_refusal
from bot.types import Actor, Reply
from storage.engine import Database
from storage.meeting_tables import Meeting, MeetingAction, MeetingInvitee
from storage.models import aware

RECENT = timedelta(days=60)
DONE_LATELY = timedelta(days=30)
LIST_LIMIT = 40
ACTIONS_LIMIT = 20  # each of mine takes two blocks (Slack: 50 a message)
QUADRANT_ACTIONS_LIMIT = 60


class Listing:
    """`/slis meeting list|show` and `/slis actions`."""

    def __init__(
        self, db: Database, clock: Clock, calendars: Callable[[int], TenantCalendar]
    ) -> None:
        self.db = db
        self.clock = clock
        self.calendars = calendars

    def _mine(self, actor: Actor, tenant_id: int) -> ColumnElement[bool]:
        """The meetings the actor follows (see the module docstring)."""
        if actor.has_any(SEE_ALL_ROLES):
            return true()
        quadrants = organiser_quadrants(actor)
        if quadrants is None:
            return true()
        me = actor.person_id
        invited = select(MeetingInvitee.meeting_id).where(
            MeetingInvitee.tenant_id == tenant_id, MeetingInvitee.person_id == me
        )
        return or_(
            col(Meeting.id).in_(invited),
            col(Meeting.chair_person_id) == me,
            col(Meeting.created_by) == me,
            col(Meeting.note_taker_person_id) == me,
            col(Meeting.quadrant_id).in_(sorted(quadrants)),
        )

    def meetings(self, actor: Actor, args: str) -> Reply:
        """Upcoming meetings (booked by start, polls by deadline), then those held or
        cancelled in the last 60 days."""
        tenant_id = tenant_of(actor)
        now = self.clock.now()
        calendar = self.calendars(tenant_id)
        mine = self._mine(actor, tenant_id)
        with self.db.session() as s:
            booked = self._query(
                s, tenant_id, mine, col(Meeting.state) == State.BOOKED.value, col(Meeting.starts_at)
            )
            polls = self._query(
                s,
                tenant_id,
                mine,
                col(Meeting.state).in_([State.POLLING.value, State.DRAFT.value]),
                col(Meeting.vote_deadline),
            )
            # Drafts are the organisers' business until the poll goes out.
            polls = [m for m in polls if m.state != State.DRAFT or may_manage(actor, m)]
            recent = self._query(
                s,
                tenant_id,
                mine,
                or_(
                    and_(
                        col(Meeting.state) == State.HELD.value,
                        col(Meeting.starts_at) >= now - RECENT,
                    ),
                    and_(
                        col(Meeting.state) == State.CANCELLED.value,
                        col(Meeting.updated_at) >= now - RECENT,
                    ),
                ),
                col(Meeting.starts_at).desc(),
            )
            answers = self._answers(s, actor, [*booked, *polls, *recent])
        upcoming = [self._listed(m, calendar, answers) for m in [*booked, *polls]]
        past = [self._listed(m, calendar, answers) for m in recent]
        organiser = organiser_quadrants(actor) != frozenset()
        return present.meeting_list(upcoming, past, organiser=organiser)

    def _query(
        self,
        s: Session,
        tenant_id: int,
        mine: ColumnElement[bool],
        which: ColumnElement[bool],
        order: object,
    ) -> list[Meeting]:
        return list(
            s.exec(
                select(Meeting)
                .where(Meeting.tenant_id == tenant_id, mine, which)
                .order_by(order, col(Meeting.id))  # type: ignore[arg-type]
                .limit(LIST_LIMIT)
            ).all()
        )

    def _answers(
        self, s: Session, actor: Actor, meetings: Sequence[Meeting]
    ) -> dict[int, str | None]:
        """The actor's own answer for each meeting they are invited to."""
        ids = [m.id for m in meetings if m.id is not None]
        if not ids or actor.person_id is None:
            return {}
        rows = s.exec(
            select(MeetingInvitee.meeting_id, MeetingInvitee.rsvp).where(
                col(MeetingInvitee.meeting_id).in_(ids),
                MeetingInvitee.person_id == actor.person_id,
            )
        ).all()
        return dict(rows)

    def _listed(
        self, m: Meeting, calendar: TenantCalendar, answers: dict[int, str | None]
    ) -> present.Listed:
        assert m.id is not None
        return present.Listed(present.facts_of(m, calendar), m.id in answers, answers.get(m.id))

    # --- show ------------------------------------------------------------------------------

    def show(self, actor: Actor, ref: str) -> Reply:
        """One meeting as the actor may see it, with the buttons for what they may do."""
        now = self.clock.now()
        with self.db.session() as s:
            meeting = find_meeting(s, actor, ref)
            assert meeting.id is not None
            calendar = self.calendars(meeting.tenant_id)
            manager = may_manage(actor, meeting)
            rows = s.exec(
                select(MeetingInvitee.person_id, MeetingInvitee.rsvp).where(
                    MeetingInvitee.meeting_id == meeting.id
                )
            ).all()
            answers = dict(rows)
            names = names_of(s, sorted({*answers, meeting.chair_person_id}))
            invitees = None
            if manager:
                invitees = tuple(
                    sorted(
                        ((names.get(p, "?"), r) for p, r in answers.items()),
                        key=lambda x: x[0].casefold(),
                    )
                )
            counts: dict[str | None, int] = {}
            for r in answers.values():
                counts[r] = counts.get(r, 0) + 1
            invited = actor.person_id in answers
            buttons = self._buttons(s, actor, meeting, now, invited, manager)
            shown_actions: tuple[present.ActionView, ...] = ()
            if meeting.state == State.HELD or meeting.minutes:
                shown_actions = tuple(
                    action_views(s, actions_of(s, meeting.id), self.calendars, now)
                )
            page = present.MeetingPage(
                facts=present.facts_of(meeting, calendar),
                purpose=meeting.purpose,
                chair=names.get(meeting.chair_person_id, "?"),
                invitees=invitees,
                counts=counts,
                own_rsvp=answers.get(actor.person_id) if actor.person_id is not None else None,
                invited=invited,
                agenda=tuple(agenda(s, meeting)),
                agenda_published=meeting.agenda_published_at is not None,
                minutes=meeting.minutes,
                actions=shown_actions,
                buttons=buttons,
                cancel_reason=meeting.cancel_reason if meeting.state == State.CANCELLED else None,
            )
        return present.meeting_page(page)

    def _buttons(
        self,
        s: Session,
        actor: Actor,
        meeting: Meeting,
        now: datetime,
        invited: bool,
        manager: bool,
    ) -> tuple[str, ...]:
        assert meeting.id is not None
        found: list[str] = []
        if add_refusal(s, actor, meeting, now, self.calendars) is None:
            found.append("agenda")
        if manager and meeting.state in ORDERABLE_STATES and items_of(s, meeting.id):
            found.append("agenda_order")
        if record_refusal(actor, meeting, now) is None:
            found.append("minutes")
        upcoming = meeting.starts_at is not None and aware(meeting.starts_at) > now
        if invited and meeting.state == State.BOOKED and upcoming:
            found.append("rsvp")
        return tuple(found)

    # --- actions ---------------------------------------------------------------------------

    def actions(self, actor: Actor, args: str) -> Reply:
        """`/slis actions [mine|quadrant|done]`: see the module docstring."""
        tenant_id = tenant_of(actor)
        word = args.strip().lower()
        if word not in ("", "mine", "quadrant", "done"):
            raise UserError(
                f"I don't know `/slis actions {args.strip()}`.",
                hint="Try `/slis actions`, `/slis actions mine` or `/slis actions done`.",
            )
        now = self.clock.now()
        quadrants = organiser_quadrants(actor)
        organiser = quadrants != frozenset()
        with self.db.session() as s:
            owner = col(MeetingAction.owner_person_id) == actor.person_id
            if word == "done":
                done = col(MeetingAction.done_at) >= now - DONE_LATELY
                mine = self._actions(s, tenant_id, and_(owner, done), ACTIONS_LIMIT)
                views = action_views(s, mine, self.calendars, now)
                return present.actions_page(views, None, done=True)
            open_ = col(MeetingAction.done_at).is_(None)
            mine = self._actions(s, tenant_id, and_(owner, open_), ACTIONS_LIMIT)
            theirs: list[MeetingAction] | None = None
            if organiser and word != "mine":
                in_quadrants: ColumnElement[bool] = true()
                if quadrants is not None:
                    in_quadrants = or_(
                        col(Meeting.quadrant_id).in_(sorted(quadrants)),
                        col(Meeting.chair_person_id) == actor.person_id,
                    )
                meetings = select(Meeting.id).where(Meeting.tenant_id == tenant_id, in_quadrants)
                theirs = self._actions(
                    s,
                    tenant_id,
                    and_(open_, col(MeetingAction.meeting_id).in_(meetings)),
                    QUADRANT_ACTIONS_LIMIT,
                )
            return present.actions_page(
                action_views(s, mine, self.calendars, now),
                None if theirs is None else action_views(s, theirs, self.calendars, now),
            )

    def _actions(
        self, s: Session, tenant_id: int, which: ColumnElement[bool], limit: int
    ) -> list[MeetingAction]:
        return list(
            s.exec(
                select(MeetingAction)
                .where(MeetingAction.tenant_id == tenant_id, which)
                .order_by(col(MeetingAction.due_on), col(MeetingAction.id))
                .limit(limit)
            ).all()
        )
