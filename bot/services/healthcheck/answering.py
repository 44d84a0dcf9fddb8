"""Answering a round: what a person still has to answer, and the form they answer it in.

A person answers only through their own invitation (the Start button carries its number), only
while the round is open, and once: sending again replaces their answers. A long template comes
a page at a time; the pages already gone through wait in a draft, under a key only the app can
compute (see `storage.survey_tables.SurveyDraft`), until the last page is sent.

In an anonymous round nothing here writes anything that names the person: the answers go under
the response key, the draft is deleted under its own key, and the invitation is only read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from bot import authorisation
from bot.errors import NotFound, UserError
from bot.form_flow import Finished, FormStep, PageErrors, ShowPage
from bot.forms import Form, FormValue, validate_form
from bot.ids import parse_id
from bot.ports import Clock
from bot.services.calendar import TenantCalendar
from bot.services.healthcheck import prompts, survey_form
from bot.services.healthcheck.responses import (
    InvalidAnswers,
    ResponseKeys,
    find_response,
    has_answered,
    record_submission,
    response_answers,
)
from bot.services.healthcheck.rounds import OPEN, SCHEDULED, subject_names
from bot.services.healthcheck.summary import summary
from bot.services.healthcheck.templates import Template
from bot.types import Actor, Block, Context, Paragraph, Reply
from storage.engine import Database
from storage.models import aware
from storage.survey_tables import SurveyDraft, SurveyInvitation, SurveyRound

log = logging.getLogger(__name__)

CalendarFor = Callable[[int], TenantCalendar]


@dataclass(frozen=True)
class Pending:
    """One invitation of an open round, as `/slis healthcheck` lists it."""

    invitation_id: int
    round_id: int
    title: str
    subject: str
    closes_at: datetime
    answered: bool


@dataclass(frozen=True)
class PendingList:
    items: tuple[Pending, ...]
    upcoming: tuple[tuple[str, datetime], ...]  # (title, opens at) of scheduled rounds
    zone: ZoneInfo


@dataclass(frozen=True)
class _Context:
    """An invitation with its round and template, checked for the actor."""

    round: SurveyRound
    invitation: SurveyInvitation
    template: Template
    subject: str
    zone: ZoneInfo


ANSWER_ENTRY = authorisation.TABLE[(authorisation.Kind.FORM, "slis.healthcheck.answer")]


class AnswerService:
    """Answering healthcheck rounds; the form flow of `survey_form.CALLBACK_ID`."""

    callback_id = survey_form.CALLBACK_ID

    def __init__(
        self,
        db: Database,
        clock: Clock,
        calendars: CalendarFor,
        *,
        keys: ResponseKeys | None,
        min_group: int = 3,
    ) -> None:
        self._db = db
        self._clock = clock
        self._calendars = calendars
        self._keys = keys
        self.min_group = min_group

    # --- what is waiting -----------------------------------------------------------------------

    def pending(self, actor: Actor) -> PendingList:
        """The actor's invitations in open rounds (answered or not) and rounds to come."""
        tenant_id, person_id = _linked(actor)
        zone = self._calendars(tenant_id).tz
        with self._db.session() as s:
            rows = s.exec(
                select(SurveyInvitation, SurveyRound)
                .join(SurveyRound, col(SurveyRound.id) == SurveyInvitation.round_id)
                .where(
                    SurveyInvitation.tenant_id == tenant_id,
                    SurveyInvitation.person_id == person_id,
                    col(SurveyRound.status).in_((OPEN, SCHEDULED)),
                )
                .order_by(col(SurveyRound.closes_at), col(SurveyInvitation.id))
            ).all()
            names = subject_names(s, tenant_id, [i for i, _ in rows])
            items: list[Pending] = []
            upcoming: dict[int, tuple[str, datetime]] = {}
            for invitation, survey_round in rows:
                assert invitation.id is not None and survey_round.id is not None
                if survey_round.status == SCHEDULED:
                    upcoming[survey_round.id] = (survey_round.title, aware(survey_round.opens_at))
                    continue
                items.append(
                    Pending(
                        invitation.id,
                        survey_round.id,
                        survey_round.title,
                        names.get((invitation.subject_kind, invitation.subject_id), "your school"),
                        aware(survey_round.closes_at),
                        self._answered(s, survey_round, invitation),
                    )
                )
            return PendingList(tuple(items), tuple(upcoming.values()), zone)

    def _answered(self, s: Session, survey_round: SurveyRound, inv: SurveyInvitation) -> bool:
        if self._keys is None:
            return inv.answered
        return has_answered(s, survey_round, inv, self._keys)

    # --- the form ------------------------------------------------------------------------------

    def start(self, actor: Actor, invitation_id: int) -> ShowPage:
        """The first page of the form for an invitation, with what the person sent (or has on
        pages gone through) filled in."""
        with self._db.session() as s:
            ctx = self._context(s, actor, invitation_id)
            form = self._form(ctx, answered=self._response_id(s, ctx) is not None)
            return ShowPage(form, 0, self._so_far(s, ctx, form))

    def form(self, actor: Actor, metadata: str) -> Form:
        with self._db.session() as s:
            ctx = self._context(s, actor, _invitation_id(metadata))
            return self._form(ctx, answered=self._response_id(s, ctx) is not None)

    def submit(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        """Keep a page's answers; on the last page, check them all and store them."""
        try:
            with self._db.session() as s:
                ctx = self._context(s, actor, _invitation_id(metadata))
                form = self._form(ctx, answered=self._response_id(s, ctx) is not None)
                merged = self._merged(s, ctx, form, page, values)
                if not form.is_last(page):
                    self._save_draft(s, ctx, merged)
                    return ShowPage(form, page + 1, merged)
                return self._finish(s, ctx, form, page, merged)
        except UserError as exc:
            return Finished(_refusal(exc), title="Healthcheck")

    def back(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        try:
            with self._db.session() as s:
                ctx = self._context(s, actor, _invitation_id(metadata))
                form = self._form(ctx, answered=self._response_id(s, ctx) is not None)
                # Back always goes one page back: the values are those of the page after it.
                merged = self._merged(s, ctx, form, page + 1, values)
                self._save_draft(s, ctx, merged)
                return ShowPage(form, max(0, min(page, form.page_count - 1)), merged)
        except UserError as exc:
            return Finished(_refusal(exc), title="Healthcheck")

    def _merged(
        self,
        s: Session,
        ctx: _Context,
        form: Form,
        page: int,
        values: Mapping[str, FormValue],
    ) -> dict[str, FormValue]:
        """The answers so far with those of the page just sent, whose fields left empty are
        cleared."""
        on_page = {f.id for f in form.pages[page].fields} if page < form.page_count else set()
        earlier = self._so_far(s, ctx, form)
        return {**{k: v for k, v in earlier.items() if k not in on_page}, **values}

    def _finish(
        self, s: Session, ctx: _Context, form: Form, page: int, values: dict[str, FormValue]
    ) -> FormStep:
        errors = validate_form(form, values)
        if errors:
            return self._show_errors(form, page, values, errors)
        answers, comments = survey_form.answers_from_values(ctx.template, values)
        try:
            submission = record_submission(
                s,
                ctx.round,
                ctx.invitation,
                answers,
                comments,
                keys=self._require_keys() if ctx.round.anonymous else None,
                now=self._clock.now(),
            )
        except InvalidAnswers as exc:
            return self._show_errors(form, page, values, {"": "; ".join(exc.problems)})
        s.exec(delete(SurveyDraft).where(col(SurveyDraft.key) == self._draft_key(ctx)))
        # Nothing about the person is logged with an anonymous response.
        if not ctx.round.anonymous:
            log.info("round %s: invitation %s answered", ctx.round.id, ctx.invitation.id)
        changed = submission.revision > 1
        closes = prompts.when_text(aware(ctx.round.closes_at), ctx.zone)
        return Finished(
            summary(
                ctx.template,
                answers,
                comments,
                heading="Your answers are updated" if changed else "Thank you: your answers are in",
                lead=f"*{ctx.round.title}* for *{ctx.subject}*. This is what you sent.",
                note=f"You can change them until {closes}: press Start again on the message,"
                " or type `/slis healthcheck`. "
                + prompts.privacy_text(ctx.round.anonymous, self.min_group),
            ),
            title="Healthcheck",
        )

    def _show_errors(
        self, form: Form, page: int, values: dict[str, FormValue], errors: dict[str, str]
    ) -> FormStep:
        on_page = {f.id for f in form.page(page).fields}
        here = {k: v for k, v in errors.items() if k in on_page}
        if here:
            return PageErrors(here)
        for number, shown in enumerate(form.pages):
            ids = {f.id for f in shown.fields}
            if ids & set(errors):
                return ShowPage(form, number, values, {k: v for k, v in errors.items() if k in ids})
        first = form.page(page).fields[0].id
        return PageErrors({first: next(iter(errors.values()))})

    # --- inside --------------------------------------------------------------------------------

    def _context(self, s: Session, actor: Actor, invitation_id: int) -> _Context:
        tenant_id, person_id = _linked(actor)
        invitation = s.get(SurveyInvitation, invitation_id)
        survey_round = s.get(SurveyRound, invitation.round_id) if invitation else None
        if invitation is None or survey_round is None or invitation.tenant_id != tenant_id:
            raise NotFound(
                "I can't find that healthcheck.",
                hint="`/slis healthcheck` lists the ones waiting for you.",
            )
        if invitation.person_id != person_id:
            raise authorisation.refusal(
                ANSWER_ENTRY,
                survey_round.audience_label,
                hint="`/slis healthcheck` lists the ones waiting for you.",
            )
        zone = self._calendars(tenant_id).tz
        now = self._clock.now()
        if survey_round.status == SCHEDULED and aware(survey_round.opens_at) > now:
            opens = prompts.when_text(aware(survey_round.opens_at), zone)
            raise UserError(f"{survey_round.title} opens {opens}; you can answer from then.")
        closes_at = aware(survey_round.closes_at)
        if survey_round.status not in (OPEN, SCHEDULED) or closes_at <= now:
            raise UserError(
                f"{survey_round.title} closed {prompts.when_text(closes_at, zone)}: answers are"
                " no longer accepted.",
                hint="If something important was missed, tell your LA officer.",
            )
        template = Template.from_snapshot(survey_round.template_snapshot)
        names = subject_names(s, tenant_id, [invitation])
        subject = names.get((invitation.subject_kind, invitation.subject_id), "your school")
        return _Context(survey_round, invitation, template, subject, zone)

    def _form(self, ctx: _Context, *, answered: bool) -> Form:
        closes = prompts.when_text(aware(ctx.round.closes_at), ctx.zone)
        intro = f"For *{ctx.subject}*, by {closes}. " + prompts.privacy_text(
            ctx.round.anonymous, self.min_group
        )
        if answered:
            intro = "You have sent your answers; what you send now replaces them. " + intro
        if ctx.template.description:
            intro = f"{ctx.template.description}\n\n{intro}"
        assert ctx.invitation.id is not None
        return survey_form.answer_form(
            ctx.template,
            title=ctx.round.title,
            intro=intro[:1990],
            metadata=str(ctx.invitation.id),
        )

    def _response_id(self, s: Session, ctx: _Context) -> Any:
        if ctx.round.anonymous and self._keys is None:
            return None
        return find_response(s, ctx.round, ctx.invitation, self._keys)

    def _stored(self, s: Session, ctx: _Context) -> dict[str, FormValue]:
        response_id = self._response_id(s, ctx)
        if response_id is None:
            return {}
        answers, comments = response_answers(s, response_id)
        return survey_form.values_from_answers(ctx.template, answers, comments)

    def _draft_key(self, ctx: _Context) -> str:
        if self._keys is not None:
            return self._keys.draft_key_for(ctx.invitation)
        if ctx.round.anonymous:
            raise UserError("Anonymous answers can't be taken on this server now.")
        return f"invitation:{ctx.invitation.id}"

    def _so_far(self, s: Session, ctx: _Context, form: Form) -> dict[str, FormValue]:
        """The pages gone through (the draft, which starts from what was sent before and so
        holds every answer, cleared ones included), else what was sent before."""
        row = s.get(SurveyDraft, self._draft_key(ctx))
        if row is None:
            return self._stored(s, ctx)
        return survey_form.values_from_json(form, row.values)

    def _save_draft(self, s: Session, ctx: _Context, values: Mapping[str, FormValue]) -> None:
        assert ctx.round.id is not None
        data = survey_form.values_to_json(values)
        dialect = s.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = SurveyDraft.__table__  # type: ignore[attr-defined]
        stmt = insert(table).values(
            key=self._draft_key(ctx),
            tenant_id=ctx.round.tenant_id,
            round_id=ctx.round.id,
            values=data,
        )
        s.exec(stmt.on_conflict_do_update(index_elements=["key"], set_={"values": data}))

    def _require_keys(self) -> ResponseKeys:
        if self._keys is None:
            raise UserError("Anonymous answers can't be taken on this server now.")
        return self._keys


def _linked(actor: Actor) -> tuple[int, int]:
    if actor.tenant_id is None or actor.person_id is None:
        raise UserError("I need to know who you are in the directory first: try `/slis whoami`.")
    return actor.tenant_id, actor.person_id


def _invitation_id(metadata: str) -> int:
    invitation_id = parse_id(metadata)
    if invitation_id is None:
        raise NotFound("I can't tell which healthcheck this form was for; press Start again.")
    return invitation_id


def _refusal(exc: UserError) -> Reply:
    blocks: list[Block] = [Paragraph(exc.message)]
    if exc.hint:
        blocks.append(Context(exc.hint))
    return Reply(exc.message, tuple(blocks), private=True, is_error=True)
