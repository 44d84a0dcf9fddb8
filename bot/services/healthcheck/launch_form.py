"""The form that launches a healthcheck round (`/slis healthcheck launch`), and its flow."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time

from sqlmodel import col, select

from bot.errors import UserError
from bot.form_flow import Finished, FormStep, PageErrors, ShowPage
from bot.forms import (
    ChoiceField,
    DateField,
    Form,
    FormValue,
    MultiChoiceField,
    Option,
    Page,
    SelectField,
    TimeField,
)
from bot.ports import Clock
from bot.services.healthcheck.audience import Scope
from bot.services.healthcheck.prompts import when_text
from bot.services.healthcheck.rounds import (
    AUDIENCE_PLURALS,
    TERM,
    Launched,
    LaunchError,
    LaunchRequest,
    NudgePlan,
    RoundService,
)
from bot.types import Actor, BulletList, Context, Fields, Heading, Paragraph, Reply, Role, ScopeKind
from storage.engine import Database
from storage.models import Partnership, Quadrant, Tenant

CALLBACK_ID = "slis.healthcheck.launch"
DEFAULT_OPEN = time(9, 0)
DEFAULT_CLOSE = time(17, 0)
DEFAULT_SCHOOL_DAYS = 10
NUDGE_OPTIONS = (
    Option("3", "3 school days after it opens"),
    Option("6", "6 school days after it opens"),
    Option("last", "On the last day"),
)


class LaunchFlow:
    """Builds the launch form for a launcher and launches the round it describes."""

    callback_id = CALLBACK_ID

    def __init__(self, db: Database, clock: Clock, rounds: RoundService) -> None:
        self._db = db
        self._clock = clock
        self._rounds = rounds

    def open(self, actor: Actor) -> ShowPage:
        """The form, for those who may launch (Forbidden for anyone else)."""
        return ShowPage(self.form(actor, ""), 0)

    def form(self, actor: Actor, metadata: str) -> Form:
        tenant_id, _ = self._rounds.check_launcher(actor)
        calendar = self._rounds.calendar(tenant_id)
        today = self._clock.now().astimezone(calendar.tz).date()
        opens = calendar.next_school_day(today, inclusive=False)
        closes = calendar.add_school_days(opens, DEFAULT_SCHOOL_DAYS)
        templates = self._rounds.templates
        roles = sorted(
            {r for t in templates.values() for r in t.respondent_roles if r in AUDIENCE_PLURALS},
            key=lambda r: list(AUDIENCE_PLURALS).index(r),
        )
        fields = (
            ChoiceField(
                "template",
                "Which healthcheck?",
                options=tuple(
                    Option(t.id, t.title, _short(t.description))
                    for t in sorted(templates.values(), key=lambda t: t.title)
                ),
            ),
            ChoiceField(
                "audience",
                "Who answers?",
                options=tuple(Option(r.value, AUDIENCE_PLURALS[r]) for r in roles),
                initial=Role.HEAD.value,
            ),
            SelectField(
                "scope",
                "Where?",
                options=self._scopes(tenant_id),
                initial="county",
                help="Heads answer a partnership healthcheck for each partnership their school"
                " is in.",
            ),
            DateField("opens_on", "Opens on", initial=opens),
            TimeField("opens_time", "at", initial=DEFAULT_OPEN),
            DateField("closes_on", "Closes on", initial=closes),
            TimeField("closes_time", "at", initial=DEFAULT_CLOSE),
            ChoiceField(
                "privacy",
                "Anonymous or named?",
                options=(
                    Option(
                        "anonymous",
                        "Anonymous",
                        "Answers are not stored with names; small groups are not reported",
                    ),
                    Option("named", "Named", "Names are kept with the answers"),
                ),
                initial="anonymous",
            ),
            MultiChoiceField(
                "nudges",
                "Nudge those who haven't answered",
                options=NUDGE_OPTIONS,
                initial=tuple(o.value for o in NUDGE_OPTIONS),
                required=False,
            ),
            ChoiceField(
                "repeat",
                "Repeat",
                options=(
                    Option("once", "Just this once"),
                    Option(TERM, "Each term", "Same school day of each term, as long"),
                ),
                initial="once",
            ),
        )
        intro = (
            "The audience is fixed when you launch. Prompts go out at the open time on a school"
            " day; nudges go only to those who have not answered."
        )
        return Form(
            callback_id=CALLBACK_ID,
            title="Launch a healthcheck",
            pages=(Page("Launch a healthcheck round", intro, fields),),
            submit_label="Launch",
        )

    def submit(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        try:
            request = _request(values)
            launched = self._rounds.launch(actor, request)
        except LaunchError as exc:
            return PageErrors({exc.field: exc.message + (f" {exc.hint}" if exc.hint else "")})
        except UserError as exc:
            message = exc.message + (f" {exc.hint}" if exc.hint else "")
            return Finished(Reply(message, (Paragraph(message),), is_error=True), "Healthcheck")
        return Finished(launched_reply(launched), "Healthcheck")

    def back(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        return ShowPage(self.form(actor, metadata), 0, values)

    def _scopes(self, tenant_id: int) -> tuple[Option, ...]:
        with self._db.session() as s:
            tenant = s.get(Tenant, tenant_id)
            quadrants = s.exec(
                select(Quadrant).where(Quadrant.tenant_id == tenant_id).order_by(col(Quadrant.name))
            ).all()
            partnerships = s.exec(
                select(Partnership)
                .where(Partnership.tenant_id == tenant_id)
                .order_by(col(Partnership.name))
            ).all()
        options = [Option("county", f"All of {tenant.name if tenant else 'the local authority'}")]
        options += [Option(f"quadrant:{q.id}", f"Quadrant: {q.name}") for q in quadrants]
        options += [Option(f"partnership:{p.id}", f"Partnership: {p.name}") for p in partnerships]
        return tuple(options)


def _short(text: str) -> str | None:
    text = " ".join(text.split())
    return None if not text else text if len(text) <= 75 else text[:74] + "…"


def _request(values: Mapping[str, FormValue]) -> LaunchRequest:
    scope_text = str(values.get("scope") or "county")
    kind, _, ident = scope_text.partition(":")
    if kind == "county":
        scope = Scope(ScopeKind.COUNTY)
    elif kind in ("quadrant", "partnership") and ident.isdigit():
        scope = Scope(ScopeKind(kind), int(ident))
    else:
        raise LaunchError("Choose where the round goes.", field="scope")
    nudges = values.get("nudges") or []
    picked = nudges if isinstance(nudges, list) else []
    return LaunchRequest(
        template_id=str(values["template"]),
        audience_role=Role(str(values["audience"])),
        scope=scope,
        opens_on=_date(values, "opens_on"),
        opens_time=_time(values, "opens_time"),
        closes_on=_date(values, "closes_on"),
        closes_time=_time(values, "closes_time"),
        anonymous=values.get("privacy") != "named",
        nudges=NudgePlan(
            tuple(int(n) for n in picked if n.isdigit()),
            "last" in picked,
        ),
        recurrence=TERM if values.get("repeat") == TERM else None,
    )


def _date(values: Mapping[str, FormValue], name: str) -> date:
    value = values.get(name)
    if not isinstance(value, date):
        raise LaunchError("Enter a date.", field=name)
    return value


def _time(values: Mapping[str, FormValue], name: str) -> time:
    value = values.get(name)
    if not isinstance(value, time):
        raise LaunchError("Enter a time.", field=name)
    return value


def launched_reply(launched: Launched) -> Reply:
    """The launcher's confirmation: what goes out, to whom, when."""
    zone = launched.zone
    kind = "anonymous" if launched.anonymous else "named"
    pairs = [
        ("Round", f"#{launched.round_id} {launched.title} ({kind})"),
        ("Audience", f"{launched.audience}: {launched.people} people"),
        ("Opens", when_text(launched.opens_at, zone)),
        ("Closes", when_text(launched.closes_at, zone)),
    ]
    if launched.recurrence:
        pairs.append(("Repeats", launched.recurrence))
    blocks: list[Heading | Paragraph | Fields | BulletList | Context] = [
        Heading("Healthcheck round launched"),
        Fields(tuple(pairs)),
    ]
    if launched.invitations != launched.people:
        blocks.append(
            Context(
                f"{launched.invitations} prompts in all: some people answer for more than one"
                " partnership."
            )
        )
    if launched.moved:
        blocks.append(Paragraph(f"The open time moved: {launched.moved}."))
    nudges = [when_text(t, zone) for t in launched.nudges]
    blocks.append(
        BulletList(tuple(nudges), title="Nudges to those who haven't answered")
        if nudges
        else Paragraph("No nudges are planned.")
    )
    for warning in launched.warnings:
        blocks.append(Paragraph(f"⚠️ {warning}"))
    blocks.append(
        Context(f"Follow the answers with `/slis healthcheck status {launched.round_id}`.")
    )
    return Reply(f"Round #{launched.round_id} launched", tuple(blocks), private=True)
