"""The support forms: asking (`/slis support`), and the forms behind a card's buttons.

`AskFlow` owns the request form; `ActionFlow` owns the small forms some actions need (a
proposal, a decline reason, a question, an impact rating…). Actions that need nothing more
(claim, accept, start, deliver, escalate) run straight from the button.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal

from sqlmodel import col, select

from bot.errors import Forbidden, UserError
from bot.form_flow import Finished, FormStep, PageErrors, ShowPage
from bot.forms import (
    ChoiceField,
    DateField,
    Field,
    Form,
    FormValue,
    NumberField,
    Option,
    Page,
    ScaleField,
    SelectField,
    TextField,
)
from bot.ids import parse_id
from bot.replies import support as present
from bot.services.support import routing
from bot.services.support.catalogue import Catalogue, Category
from bot.services.support.facts import Facts
from bot.services.support.lifecycle import TERMINAL, TRANSITIONS, Action, Party
from bot.services.support.moves import require_party, shorten, to_requester
from bot.services.support.requests import (
    DECLINE_REASONS,
    NEEDED_LIMIT,
    NOTE_LIMIT,
    URGENCIES,
    WHY_LIMIT,
    Acted,
    Ask,
    FieldProblem,
    SupportService,
    destination,
)
from bot.services.support.suggest import Suggestions
from bot.types import Actor, Paragraph, Reply
from storage.models import Alliance

ASK_CALLBACK = "slis.support.ask"
OPTION_NOTE = 75  # an option's small print (Slack: 75 characters)
ACT_CALLBACK = "slis.support.act"
TITLE = "Ask for support"
# Actions a button runs at once; the others open a form first.
IMMEDIATE = ("claim", "accept", "start", "deliver", "escalate")
FORM_ACTIONS = (
    "decline",
    "question",
    "reply",
    "propose",
    "ask_changes",
    "close",
    "withdraw",
    "assign",
)
URGENCY_OPTIONS = tuple(
    Option(u, present_label)
    for u, present_label in (
        ("low", "Low: any time this term"),
        ("normal", "Normal: in the next few weeks"),
        ("high", "High: as soon as possible"),
        ("urgent", "Urgent: this week"),
    )
)
assert tuple(o.value for o in URGENCY_OPTIONS) == URGENCIES
IMPACT_POINTS = (
    "1 No difference",
    "2 A little",
    "3 Some",
    "4 A lot",
    "5 Transformed practice",
)
_WORD = re.compile(r"[a-z]{4,}")
# The service's names for what some forms call `text`.
_FORM_FIELDS = {"question": "text", "reply": "text", "changes": "text"}


def guess_category(catalogue: Catalogue, text: str) -> str | None:
    """The category whose label (then description and tags) shares most words with `text`;
    None when nothing matches. Used to pre-fill the form from `/slis support <text>`."""
    words = set(_WORD.findall(text.lower()))
    if not words:
        return None
    best: tuple[int, str] | None = None
    for c in catalogue.categories:
        label = set(_WORD.findall(c.label.lower()))
        rest = set(_WORD.findall((c.description or "").lower())) | {
            t for tag in c.tags for t in _WORD.findall(tag.replace("_", " "))
        }
        score = 3 * len(words & label) + len(words & rest)
        if score and (best is None or score > best[0]):
            best = (score, c.id)
    return best[1] if best else None


class AskFlow:
    """`/slis support [text]`: the form a school asks through, and what happens when sent."""

    callback_id = ASK_CALLBACK

    def __init__(self, support: SupportService) -> None:
        self.support = support

    def open(self, actor: Actor, text: str) -> ShowPage:
        """The form, pre-filled from `text` (what is needed, and a guess at the category)."""
        form = self.form(actor, "")
        values: dict[str, FormValue] = {}
        text = text.strip()
        if text:
            values["needed"] = text[:NEEDED_LIMIT]
            guess = guess_category(self._catalogue(actor), text)
            if guess is not None:
                values["category"] = guess
        return ShowPage(form, 0, values)

    def form(self, actor: Actor, metadata: str) -> Form:
        schools = self.support.asking_schools(actor)
        catalogue = self._catalogue(actor)
        fields: list[Field] = []
        if len(schools) > 1:
            fields.append(
                SelectField(
                    "school",
                    "For which school?",
                    options=tuple(Option(str(i), name) for i, name in schools),
                )
            )
        fields += [
            SelectField(
                "category",
                "What kind of support?",
                options=tuple(_category_option(c) for c in catalogue.categories),
                help="A safeguarding concern goes to the LA, never to an alliance. If a child"
                " is at immediate risk, call 999.",
            ),
            TextField(
                "needed",
                "What is needed?",
                multiline=True,
                max_length=NEEDED_LIMIT,
                placeholder="e.g. an experienced head to help governors set the head's objectives",
            ),
            TextField(
                "why_now",
                "Why now?",
                multiline=True,
                max_length=WHY_LIMIT,
                required=False,
                placeholder="What has prompted this: an inspection, a new leader, results…",
            ),
            ChoiceField("urgency", "How urgent?", options=URGENCY_OPTIONS, initial="normal"),
            DateField("window_from", "Preferred window: from", required=False),
            DateField("window_to", "to", required=False),
            NumberField(
                "days",
                "Rough number of days",
                decimal=True,
                min_value=Decimal("0.5"),
                max_value=100,
                required=False,
                help="Your guess, in half days; the provider proposes the real figure.",
            ),
            ChoiceField(
                "consent",
                "May we share this request with the alliances that can help?",
                options=(
                    Option(
                        "yes",
                        "Yes, share it with them",
                        "They see your school, what is needed and why",
                    ),
                    Option(
                        "no",
                        "No, only my quadrant chair and the LA",
                        "They will find help without sharing your words",
                    ),
                ),
            ),
        ]
        intro = (
            "Your request goes to the Teaching School Alliances that serve your quadrant and"
            " can help; the first to claim it proposes days, dates and a cost for you to accept."
        )
        metadata = str(schools[0][0]) if len(schools) == 1 else ""
        return Form(
            callback_id=ASK_CALLBACK,
            title=TITLE,
            pages=(Page(TITLE, intro, tuple(fields)),),
            submit_label="Send",
            private_metadata=metadata,
        )

    def submit(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        school = parse_id(str(values.get("school") or metadata or ""))
        if school is None:
            return PageErrors({"school": "Choose the school."})
        days = values.get("days")
        ask = Ask(
            school_id=school,
            category_id=str(values.get("category") or ""),
            needed=str(values.get("needed") or ""),
            why_now=str(values.get("why_now") or ""),
            urgency=str(values.get("urgency") or "normal"),
            window_from=_date(values.get("window_from")),
            window_to=_date(values.get("window_to")),
            days_estimate=Decimal(days) if isinstance(days, (int, Decimal)) else None,
            consent=values.get("consent") == "yes",
        )
        try:
            submitted = self.support.submit(actor, ask)
        except FieldProblem as exc:
            if exc.field == "school" and metadata:
                # A one-school form has no school field to show it on (the school it was
                # opened for is no longer theirs): say it instead of the form.
                raise UserError(exc.message) from None
            return PageErrors({exc.field: exc.message})
        f = submitted.facts
        if submitted.escalated:
            reason = to_requester(submitted.escalated)
            next_step = (
                f"As {reason}, it has gone to {destination(submitted.facts.route)}, who will find"
                " the right help."
            )
        else:
            names = ", ".join(submitted.offered_to)
            next_step = (
                f"It has gone to {len(submitted.offered_to)}"
                f" {'alliance' if len(submitted.offered_to) == 1 else 'alliances'}: {names}."
                " You will hear in your messages from me when one claims it."
            )
        message = f"Your request *{f.reference}* ({f.category}) for {f.school} is in. {next_step}"
        return Finished(present.done(message, f), "Support requested")

    def back(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        return ShowPage(self.form(actor, metadata), 0, values)

    def _catalogue(self, actor: Actor) -> Catalogue:
        if actor.tenant_id is None:
            raise UserError("This workspace is not linked to a local authority yet.")
        return self.support.catalogues(actor.tenant_id)


def _category_option(c: Category) -> Option:
    description = shorten(c.description, OPTION_NOTE) if c.description else None
    label = c.label if c.traded else f"{c.label} (goes to the LA)"
    return Option(c.id, label, description)


def _date(value: object) -> date | None:
    return value if isinstance(value, date) else None


class ActionFlow:
    """The buttons on a card: run an action at once, or open its form and run it when sent.
    Also the buttons that lead to a request: "Offer support" by a flagged partnership in a
    healthcheck report, and the "Ask for support" it sends the partnership's leads."""

    callback_id = ACT_CALLBACK

    def __init__(
        self,
        support: SupportService,
        ask: AskFlow | None = None,
        suggestions: Suggestions | None = None,
    ) -> None:
        self.support = support
        self.ask = ask or AskFlow(support)
        self.suggestions = suggestions or Suggestions(support.db, support.clock, support.calendars)

    def press(self, actor: Actor, action: str, value: str) -> ShowPage | Reply:
        """A button pressed: the form to fill in, or the card as it is after the action."""
        if action == "ask":
            return self.ask.open(actor, f"Following our healthcheck: {value}" if value else "")
        if action.partition(":")[0] == "suggest":
            partnership_text, _, reason = value.partition("|")
            partnership = parse_id(partnership_text)
            if partnership is None:
                raise UserError("That button is out of date: run the report again.")
            return present.done(self.suggestions.suggest(actor, partnership, reason))
        request_id, extra = _ids(value)
        if action in IMMEDIATE:
            acted = self._run(actor, action, request_id, {})
            return card_reply(acted)
        if action not in FORM_ACTIONS:
            raise UserError(f"I don't know the action {action!r}.")
        metadata = f"{request_id}:{action}" + (f":{extra}" if extra is not None else "")
        return ShowPage(self.form(actor, metadata), 0)

    def form(self, actor: Actor, metadata: str) -> Form:
        request_id, action, extra = _metadata(metadata)
        found = self.support.find(actor, request_id)
        f = found.facts
        # Only those taking part in the request in a capacity that takes the action get its
        # form; the lifecycle then says whether the action is theirs to take now.
        if action not in FORM_ACTIONS:
            raise UserError("That form is out of date: open it again from the request's card.")
        require_party(actor, f, action)
        title, submit, fields, intro = self._fields(actor, action, found, extra)
        return Form(
            callback_id=ACT_CALLBACK,
            title=title,
            pages=(Page(f"{f.reference} · {f.category}", intro, fields),),
            submit_label=submit,
            private_metadata=metadata,
        )

    def submit(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        request_id, action, extra = _metadata(metadata)
        payload = dict(values)
        if extra is not None:
            payload["_extra"] = str(extra)
        try:
            acted = self._run(actor, action, request_id, payload)
        except FieldProblem as exc:
            return PageErrors({_FORM_FIELDS.get(exc.field, exc.field): exc.message})
        return Finished(present.done(acted.message, acted.facts), "Support request")

    def back(
        self, actor: Actor, metadata: str, page: int, values: Mapping[str, FormValue]
    ) -> FormStep:
        return ShowPage(self.form(actor, metadata), 0, values)

    def _run(self, actor: Actor, action: str, request_id: int, v: Mapping[str, object]) -> Acted:
        s = self.support
        match action:
            case "claim":
                return s.claim(actor, request_id)
            case "accept":
                return s.accept(actor, request_id)
            case "start":
                return s.start(actor, request_id)
            case "deliver":
                return s.deliver(actor, request_id)
            case "escalate":
                return s.escalate(actor, request_id)
            case "decline":
                return s.decline(
                    actor, request_id, str(v.get("reason") or "other"), str(v.get("note") or "")
                )
            case "question":
                return s.question(actor, request_id, str(v.get("text") or ""))
            case "reply":
                return s.reply(
                    actor, request_id, int(str(v.get("_extra"))), str(v.get("text") or "")
                )
            case "propose":
                days = v.get("days")
                starts, ends = v.get("starts_on"), v.get("ends_on")
                if not isinstance(days, (int, Decimal)):
                    raise FieldProblem("How many days?", field="days")
                if not isinstance(starts, date):
                    raise FieldProblem("When does it start?", field="starts_on")
                if not isinstance(ends, date):
                    raise FieldProblem("When does it end?", field="ends_on")
                return s.propose(
                    actor,
                    request_id,
                    days=Decimal(days),
                    starts_on=starts,
                    ends_on=ends,
                    note=str(v.get("note") or ""),
                )
            case "ask_changes":
                return s.ask_changes(actor, request_id, str(v.get("text") or ""))
            case "close":
                rating = v.get("rating")
                if not isinstance(rating, int):
                    raise FieldProblem("Rate the impact from 1 to 5.", field="rating")
                return s.close(actor, request_id, rating, str(v.get("evidence") or ""))
            case "withdraw":
                return s.withdraw(actor, request_id, str(v.get("reason") or ""))
            case "assign":
                chosen = parse_id(str(v.get("alliance") or ""))
                if chosen is None:
                    raise FieldProblem("Choose an alliance.", field="alliance")
                return s.assign(actor, request_id, chosen, str(v.get("note") or ""))
        raise UserError(f"I don't know the action {action!r}.")

    def _fields(
        self, actor: Actor, action: str, found: Acted, extra: int | None
    ) -> tuple[str, str, tuple[Field, ...], str | None]:
        f = found.facts
        if action not in found.actions and action != "reply":
            # The form would only be refused when sent: say so now, as the action would.
            raise _refusal(f, action)
        note = TextField(
            "note", "A note (optional)", multiline=True, max_length=NOTE_LIMIT, required=False
        )
        match action:
            case "decline":
                return (
                    "Decline",
                    "Decline",
                    (
                        ChoiceField(
                            "reason",
                            "Why can't your alliance take it?",
                            options=tuple(
                                Option(k, t.capitalize()) for k, t in DECLINE_REASONS.items()
                            ),
                        ),
                        note,
                    ),
                    "The school is not told who declined; the chair sees the reasons.",
                )
            case "question":
                return (
                    "Ask a question",
                    "Send",
                    (
                        TextField(
                            "text",
                            "Your question for the school",
                            multiline=True,
                            max_length=NOTE_LIMIT,
                        ),
                    ),
                    f"It goes to {f.requested_by} at {f.school}, in the thread of their request.",
                )
            case "reply":
                return (
                    "Reply",
                    "Send",
                    (TextField("text", "Your reply", multiline=True, max_length=NOTE_LIMIT),),
                    None,
                )
            case "propose":
                today = self.support.calendars(f.tenant_id).local(self.support.clock.now()).date()
                days0 = f.proposal.days if f.proposal else f.days_estimate
                return (
                    "Propose",
                    "Propose",
                    (
                        NumberField(
                            "days",
                            "Days",
                            decimal=True,
                            min_value=Decimal("0.5"),
                            max_value=100,
                            initial=days0,
                            help=f"Costed at {present.money(f.day_rate_pence)} a day, the"
                            " local authority's day rate.",
                        ),
                        DateField(
                            "starts_on",
                            "Starts on",
                            initial=(f.proposal.starts_on if f.proposal else f.window_from)
                            or today,
                        ),
                        DateField(
                            "ends_on",
                            "Ends on",
                            initial=(f.proposal.ends_on if f.proposal else f.window_to),
                        ),
                        note,
                    ),
                    f"The school asked for: {f.needed[:300]}",
                )
            case "ask_changes":
                return (
                    "Ask for changes",
                    "Send",
                    (
                        TextField(
                            "text", "What should change?", multiline=True, max_length=NOTE_LIMIT
                        ),
                    ),
                    "The provider is asked to propose again.",
                )
            case "close":
                return (
                    "Close and rate",
                    "Close",
                    (
                        ScaleField(
                            "rating",
                            "What impact did the support have?",
                            low=1,
                            high=5,
                            point_labels=IMPACT_POINTS,
                        ),
                        TextField(
                            "evidence",
                            "The evidence, in a sentence or two",
                            multiline=True,
                            max_length=NOTE_LIMIT,
                        ),
                    ),
                    "Your rating helps other schools choose support and the alliance improve.",
                )
            case "withdraw":
                return (
                    "Withdraw",
                    "Withdraw",
                    (
                        TextField(
                            "reason",
                            "Why (optional)",
                            multiline=True,
                            max_length=NOTE_LIMIT,
                            required=False,
                        ),
                    ),
                    "Everyone following the request is told it is no longer needed.",
                )
            case "assign":
                return (
                    "Assign",
                    "Assign",
                    (
                        SelectField(
                            "alliance",
                            "Which alliance?",
                            options=self._alliance_options(f.tenant_id, f.school_id, f.category_id),
                        ),
                        note,
                    ),
                    "Alliances that serve the quadrant with the expertise come first.",
                )
        raise UserError(f"I don't know the action {action!r}.")

    def _alliance_options(
        self, tenant_id: int, school_id: int, category_id: str
    ) -> tuple[Option, ...]:
        s = self.support
        catalogue = s.catalogues(tenant_id)
        calendar = s.calendars(tenant_id)
        today = calendar.local(s.clock.now()).date()
        options: list[Option] = []
        with s.db.session() as session:
            category = next((c for c in catalogue.categories if c.id == category_id), None)
            if category is not None and category.traded:
                found = routing.route(
                    session,
                    tenant_id=tenant_id,
                    school_id=school_id,
                    category=category,
                    calendar=calendar,
                    today=today,
                )
                options = [
                    Option(str(c.alliance_id), c.name, f"{c.days_left} days left this term")
                    for c in found.eligible
                ]
                options += [
                    Option(str(e.alliance_id), e.name, shorten(e.reason, OPTION_NOTE))
                    for e in found.excluded
                ]
            if not options:
                alliances = session.exec(
                    select(Alliance)
                    .where(Alliance.tenant_id == tenant_id)
                    .order_by(col(Alliance.name))
                ).all()
                options = [Option(str(a.id), a.name) for a in alliances]
        if not options:
            raise UserError("There are no alliances in the directory to assign it to.")
        return tuple(options)


def _refusal(f: Facts, action: str) -> UserError:
    """Why the action can't be taken by this person now: the state, or who may."""
    hint = f"`/slis support show {f.reference}` shows what you can do."
    try:
        lifecycle_action = Action(action)
    except ValueError:
        if f.state in TERMINAL or f.holder_id is not None:
            return UserError(
                f"{f.reference} is *{f.state.label}*: that can't be done now.", hint=hint
            )
        return Forbidden(
            f"Only the lead of an alliance {f.reference} is offered to can do that.", hint=hint
        )
    t = TRANSITIONS.get((f.state, lifecycle_action))
    if t is None:
        return UserError(
            f"{f.reference} is *{f.state.label}*: it can't be {lifecycle_action.done} now.",
            hint=hint,
        )
    who = " or ".join(p.label for p in Party if p in t.parties)
    return Forbidden(f"Only {who} can {lifecycle_action.verb} on {f.reference}.", hint=hint)


def card_reply(acted: Acted) -> Reply:
    """The card as it is after an action, headed by what the action did."""
    view = acted.view or present.CardView(acted.facts, acted.actions)
    shown = replace(view, headline=acted.message or None)
    reply = present.card(shown)
    return Reply(reply.text, reply.blocks, private=True)


def _ids(value: str) -> tuple[int, int | None]:
    first, _, second = value.partition(":")
    request_id, other = parse_id(first), parse_id(second)
    if request_id is None or (second and other is None):
        raise UserError("That button is out of date: try `/slis support list`.")
    return request_id, other


def _metadata(metadata: str) -> tuple[int, str, int | None]:
    parts = metadata.split(":")
    request_id = parse_id(parts[0])
    if len(parts) < 2 or request_id is None:
        raise UserError("That form is out of date: open it again from the request.")
    extra = parse_id(parts[2]) if len(parts) > 2 else None
    return request_id, parts[1], extra


__all__ = ["ACT_CALLBACK", "ASK_CALLBACK", "ActionFlow", "AskFlow", "Paragraph", "card_reply"]
