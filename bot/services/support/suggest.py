"""Offering support where a healthcheck shows a partnership needs it.

A quadrant chair, LA officer or Board member reading a healthcheck report presses "Offer support"
by a flagged partnership; its leads get a direct message saying what the healthcheck showed,
with an "Ask for support" button that opens the request form, filled in with it. Nothing is
asked on the school's behalf: the school decides, and asks through its own form.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import col, select

from bot import authorisation
from bot.errors import NotFound, UserError
from bot.ports import Clock
from bot.services.calendar import TenantCalendar
from bot.services.outbox import Recipient, enqueue
from bot.services.support.access import reach
from bot.services.support.moves import tenant_of
from bot.types import Actions, Actor, Button, Context, Paragraph, Reply, Role, ScopeKind
from storage.engine import Database
from storage.models import Partnership, Person, RoleAssignment

ASK_ACTION = "slis.support.ask"
REASON_LIMIT = 500
SUGGEST_ENTRY = authorisation.TABLE[(authorisation.Kind.BUTTON, "slis.support.suggest")]


def suggestion(sender: str, partnership: str, reason: str) -> Reply:
    """What a partnership lead is sent: what was seen, and a button to ask for support."""
    return Reply(
        f"{sender} suggests support for {partnership}",
        (
            Paragraph(
                f"{sender} suggests support for *{partnership}*. The latest healthcheck shows:"
                f" {reason}"
            ),
            Paragraph(
                "The Teaching School Alliances that serve your quadrant can help. Ask in one"
                " step: the form is filled in with this, for you to change."
            ),
            Actions((Button("Ask for support", ASK_ACTION, reason[:REASON_LIMIT], "primary"),)),
            Context("Only you and your school see what you ask until you send it."),
        ),
        private=False,
    )


class Suggestions:
    """Sends "consider asking for support" to a flagged partnership's leads."""

    def __init__(
        self, db: Database, clock: Clock, calendars: Callable[[int], TenantCalendar]
    ) -> None:
        self.db = db
        self.clock = clock
        self.calendars = calendars

    def suggest(self, actor: Actor, partnership_id: int, reason: str) -> str:
        """Message the partnership's leads (once a day each); what was done, in words."""
        tenant_id = tenant_of(actor)
        r = reach(actor.grants)
        reason = " ".join(reason.split())[:REASON_LIMIT] or "it needs attention"
        with self.db.session() as s:
            partnership = s.get(Partnership, partnership_id)
            if partnership is None or partnership.tenant_id != tenant_id:
                raise NotFound("I can't find that partnership.")
            mine = r.chair_quadrants | r.officer_quadrants
            if not (r.see_everything or partnership.quadrant_id in mine):
                raise authorisation.refusal(SUGGEST_ENTRY)
            leads = s.exec(
                select(Person)
                .join(RoleAssignment, col(RoleAssignment.person_id) == col(Person.id))
                .where(
                    RoleAssignment.tenant_id == tenant_id,
                    RoleAssignment.role == Role.PARTNERSHIP_LEAD.value,
                    RoleAssignment.scope_kind == ScopeKind.PARTNERSHIP.value,
                    RoleAssignment.scope_id == partnership_id,
                )
                .order_by(col(Person.name))
            ).all()
            if not leads:
                raise UserError(
                    f"{partnership.name} has no partnership lead in the directory to tell.",
                    hint="Ask your LA administrator to add one.",
                )
            calendar = self.calendars(tenant_id)
            now = self.clock.now()
            today = calendar.local(now).date()
            message = suggestion(actor.name or "Your quadrant chair", partnership.name, reason)
            sent = []
            for lead in leads:
                assert lead.id is not None
                added = enqueue(
                    s,
                    tenant_id=tenant_id,
                    key=f"support:suggest:{partnership_id}:{lead.id}:{today.isoformat()}",
                    to=Recipient(person_id=lead.id),
                    reply=message,
                    not_before=calendar.next_slot(now),
                    now=now,
                )
                if added:
                    sent.append(lead.name)
        if not sent:
            return f"{partnership.name}'s leads have already been offered support today."
        return (
            f"Support offered to {partnership.name}: {', '.join(sent)} will get a message with"
            " what the healthcheck showed and a button to ask the alliances."
        )
