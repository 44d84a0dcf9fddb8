"""The sweeps that keep requests moving: escalate what nobody claimed, nudge what stalled."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import update
from sqlmodel import col, select

from bot.replies.support import date_text
from bot.services.support.facts import Facts
from bot.services.support.lifecycle import Party, State
from bot.services.support.moves import ALL_DECLINED, SWEEP_BATCH, RequestMoves
from bot.services.support.notify import Notifier
from storage.support_tables import SupportOffer, SupportRequest

log = logging.getLogger(__name__)


@dataclass
class SweepCounts:
    escalated: int = 0
    start_nudges: int = 0
    close_nudges: int = 0
    problems: list[str] = field(default_factory=list)


class Sweeps(RequestMoves):
    """Run by the scheduler: escalations and nudges that are due."""

    def sweep(self) -> SweepCounts:
        """Escalate what has waited too long for a claim, and nudge what has stalled."""
        counts = SweepCounts()
        now = self.clock.now()
        with self.db.session() as s:
            due = s.exec(
                select(SupportRequest.id)
                .where(
                    col(SupportRequest.escalate_at) <= now,
                    col(SupportRequest.state).in_([State.SUBMITTED.value, State.OFFERED.value]),
                )
                .order_by(col(SupportRequest.escalate_at))
                .limit(SWEEP_BATCH)
            ).all()
            # An offered request whose every offer was declined escalates when the last decline
            # commits; this catches one whose escalation a crash cut off in between.
            open_offer = select(SupportOffer.id).where(
                SupportOffer.request_id == SupportRequest.id, SupportOffer.status == "offered"
            )
            declined = s.exec(
                select(SupportRequest.id)
                .where(SupportRequest.state == State.OFFERED.value, ~open_offer.exists())
                .limit(SWEEP_BATCH)
            ).all()
        unclaimed = f"nobody has claimed it after {self.escalate_after} school days"
        work = [(i, unclaimed) for i in due] + [(i, ALL_DECLINED) for i in declined]
        for request_id, reason in work:
            if request_id is None:
                continue
            try:
                if self._system_escalate(request_id, reason):
                    counts.escalated += 1
            except Exception:
                log.exception("escalating support request %s failed", request_id)
                counts.problems.append(f"escalate {request_id}")
        counts.start_nudges = self._nudge(
            "start_nudge_at",
            State.AGREED,
            lambda n, f: (
                self._holders(n),
                f"The agreed start date ({_date(f)}) has passed and the delivery is not marked"
                " started. Press *Start the delivery* when it begins, or tell the school"
                " if the dates have changed.",
            ),
            counts,
        )
        counts.close_nudges = self._nudge(
            "close_nudge_at",
            State.DELIVERED,
            lambda n, f: (
                [n.request.requested_by],
                f"*{f.holder}* marked this delivered {self.close_nudge_after} school days ago."
                " Please close it and rate the impact: it helps every school choose support.",
            ),
            counts,
        )
        return counts

    def _nudge(
        self,
        column: str,
        state: State,
        message: Callable[[Notifier, Facts], tuple[list[int], str]],
        counts: SweepCounts,
    ) -> int:
        now = self.clock.now()
        due_col = getattr(SupportRequest, column)
        sent = 0
        with self.db.session() as s:
            ids = s.exec(
                select(SupportRequest.id)
                .where(col(due_col) <= now, SupportRequest.state == state.value)
                .order_by(col(due_col))
                .limit(SWEEP_BATCH)
            ).all()
        for request_id in ids:
            try:
                with self.db.session() as s:
                    done = s.exec(
                        update(SupportRequest)
                        .where(
                            col(SupportRequest.id) == request_id,
                            col(due_col) <= now,
                            col(SupportRequest.state) == state.value,
                        )
                        .values({column: None})
                    )
                    if not done.rowcount:
                        continue
                    request = s.get(SupportRequest, request_id)
                    assert request is not None
                    event = self._event(
                        s, request, None, Party.SYSTEM, "nudge", state, {"which": column}
                    )
                    facts = self._facts(s, request)
                    n = Notifier(s, request, facts, self.calendars(request.tenant_id), now)
                    people, text = message(n, facts)
                    n.tell(people, text, event)
                    sent += 1
            except Exception:
                log.exception("nudging support request %s failed", request_id)
                counts.problems.append(f"{column} {request_id}")
        return sent


def _date(f: Facts) -> str:
    return date_text(f.proposal.starts_on) if f.proposal else "?"
