"""Answering healthcheck rounds at the service level: the form a template becomes, values and
stored answers both ways, the answer service's pages, drafts and refusals, and the launch form.

The directory and dates are tests.slack.healthcheck_world's (Essex, the 2026-27 sample school
calendar, a round to the heads of North East opening after the autumn half term).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.core import Core
from bot.errors import Forbidden, NotFound, UserError
from bot.form_flow import Finished, FormStep, PageErrors, ShowPage
from bot.forms import (
    ChoiceField,
    DateField,
    FormValue,
    MultiChoiceField,
    Rag,
    RagField,
    RankingField,
    ScaleField,
    SelectField,
    TextField,
    TimeField,
)
from bot.services.healthcheck import Template, shipped_templates
from bot.services.healthcheck.answering import AnswerService
from bot.services.healthcheck.audience import Scope
from bot.services.healthcheck.launch_form import CALLBACK_ID as LAUNCH_FORM
from bot.services.healthcheck.launch_form import LaunchFlow, launched_reply
from bot.services.healthcheck.responses import response_answers
from bot.services.healthcheck.rounds import Launched, LaunchRequest
from bot.services.healthcheck.summary import answer_text, summary
from bot.services.healthcheck.survey_form import (
    CALLBACK_ID,
    FIELDS_PER_PAGE,
    answer_form,
    answers_from_values,
    comment_id,
    values_from_answers,
    values_from_json,
    values_to_json,
)
from bot.types import Actor, ChatUser, Platform, Reply, Role, ScopeKind
from storage.engine import Database
from storage.survey_tables import SurveyDraft, SurveyInvitation, SurveyResponse, SurveyRound
from tests.fakes.clock import FakeClock
from tests.slack.directory import CHAIR, ESSEX_TEAM, HEAD, STRANGER
from tests.slack.healthcheck_world import (
    CLOSES_AT,
    CONDITIONS,
    DIAMOND,
    DIAMOND_STORED,
    HARLOW_HEAD,
    KEYS,
    LAUNCHED_AT,
    OFFICER,
    OPENS_AT,
    HealthcheckDirectory,
    build_healthcheck_directory,
)

LONDON = ZoneInfo("Europe/London")
TEMPLATES = shipped_templates()
HEALTHCHECK = TEMPLATES["partnership_healthcheck"]
CHECKIN = TEMPLATES["school_checkin"]


@dataclass
class Services:
    db: Database
    directory: HealthcheckDirectory
    clock: FakeClock
    core: Core

    def actor(self, user: str) -> Actor:
        return self.core.identity.actor_for(ChatUser(Platform.SLACK, ESSEX_TEAM, user))

    def launch(self, template: str = "partnership_healthcheck", **change: Any) -> int:
        values: dict[str, Any] = {
            "template_id": template,
            "audience_role": Role.HEAD,
            "scope": Scope(ScopeKind.QUADRANT, self.directory.north_east),
            "opens_on": date(2026, 10, 26),
            "opens_time": time(9, 0),
            "closes_on": date(2026, 11, 13),
            "closes_time": time(17, 0),
            "anonymous": True,
        }
        values.update(change)
        return self.core.rounds.launch(self.actor(OFFICER), LaunchRequest(**values)).round_id

    def open(self, template: str = "partnership_healthcheck", **change: Any) -> int:
        round_id = self.launch(template, **change)
        self.clock.current = max(self.clock.current, OPENS_AT)
        self.core.rounds.tick()
        return round_id

    def invitation(self, round_id: int, user: str) -> int:
        person = self.directory.people[user]
        with self.db.session() as s:
            found = s.exec(
                select(SurveyInvitation.id).where(
                    SurveyInvitation.round_id == round_id, SurveyInvitation.person_id == person
                )
            ).one()
        assert found is not None
        return found

    def responses(self, round_id: int) -> list[SurveyResponse]:
        with self.db.session() as s:
            return list(
                s.exec(select(SurveyResponse).where(SurveyResponse.round_id == round_id)).all()
            )

    def drafts(self) -> list[SurveyDraft]:
        with self.db.session() as s:
            return list(s.exec(select(SurveyDraft)).all())


@pytest.fixture
def hc(db: Database) -> Services:
    directory = build_healthcheck_directory(db)
    clock = FakeClock(LAUNCHED_AT)
    return Services(db, directory, clock, Core(db, clock=clock, response_keys=KEYS))


def page_values(step: FormStep, answers: Mapping[str, FormValue]) -> dict[str, FormValue]:
    """The answers that go on the page `step` shows."""
    assert isinstance(step, ShowPage), step
    ids = {f.id for f in step.form.page(step.page).fields}
    return {k: v for k, v in answers.items() if k in ids}


def everything(rating: int = 3, **change: FormValue) -> dict[str, FormValue]:
    values: dict[str, FormValue] = dict.fromkeys(CONDITIONS, rating)
    values["diamond_nine"] = dict(DIAMOND)
    values.update(change)
    return values


def answer(
    answers: AnswerService, actor: Actor, invitation: int, values: Mapping[str, FormValue]
) -> FormStep:
    """Go through every page of the form with `values`; the last step."""
    step: FormStep = answers.start(actor, invitation)
    meta = str(invitation)
    while isinstance(step, ShowPage):
        step = answers.submit(actor, meta, step.page, page_values(step, values))
    return step


def reply_text(reply: Reply) -> str:
    parts = [reply.text]
    for block in reply.blocks:
        for name in ("text", "title"):
            value = getattr(block, name, None)
            if isinstance(value, str):
                parts.append(value)
        for name in ("items", "pairs"):
            value = getattr(block, name, None)
            if isinstance(value, tuple):
                parts.extend(str(v) for v in value)
    return "\n".join(parts)


# --- the template as a form -------------------------------------------------------------------


def test_the_partnership_healthcheck_is_four_pages_with_the_diamond_last() -> None:
    form = answer_form(HEALTHCHECK, title="Autumn healthcheck", intro="Hello.", metadata="12")
    assert form.callback_id == CALLBACK_ID == "slis.healthcheck.answer"
    assert form.private_metadata == "12"
    assert form.title == "Partnership healthcheck"
    assert form.submit_label == "Send answers"
    assert [len(p.fields) for p in form.pages] == [FIELDS_PER_PAGE] * 3 + [1]
    assert form.pages[0].intro == "Hello." and form.pages[1].intro is None
    assert form.pages[0].title == "Autumn healthcheck"
    assert form.pages[1].title == "Autumn healthcheck (continued)"
    ids = form.field_ids()
    assert ids[:4] == ("vision", "vision-comment", "trust", "trust-comment")
    vision = form.field("vision")
    assert isinstance(vision, ScaleField)
    assert (vision.low, vision.high, vision.required) == (1, 4, True)
    assert vision.point_labels == (
        "Not yet in place",
        "Partly in place",
        "Largely in place",
        "Fully in place",
    )
    assert vision.help is not None
    assert vision.help.startswith("A shared moral purpose")
    assert "1 – Not yet in place: There is no shared vision" in vision.help
    comment = form.field("vision-comment")
    assert isinstance(comment, TextField) and not comment.required and comment.multiline
    ranking = form.field("diamond_nine")
    assert isinstance(ranking, RankingField)
    assert ranking.shape == (1, 2, 3, 2, 1)
    assert [i.value for i in ranking.items] == list(CONDITIONS)
    assert ranking.items[0].label == HEALTHCHECK.item_label("vision")
    assert ranking.tier_labels == ("Greatest strength", "", "", "", "Most improvement needed")


def test_the_school_checkin_is_one_page_of_rag_text_and_choice() -> None:
    form = answer_form(CHECKIN, title="Check-in", intro="Hi.", metadata="3")
    assert form.page_count == 1
    rag, notes, support = form.fields()
    assert isinstance(rag, RagField) and rag.id == "current_position"
    assert rag.red.startswith("There are significant concerns")
    assert isinstance(notes, TextField) and not notes.required and notes.max_length == 1500
    assert isinstance(support, ChoiceField)
    assert [o.value for o in support.options] == ["yes", "no", "not_now"]


def custom_template() -> Template:
    """Every question type, a long single choice (a drop-down) and a long question id."""
    long_id = "q" + "x" * 63
    return Template.from_snapshot(
        {
            "id": "everything",
            "title": "A template with every kind of question in it",
            "scope": "school",
            "respondent_roles": ["head"],
            "items": [{"id": "a", "label": "Item A"}, {"id": "b", "label": "Item B"}],
            "questions": [
                {
                    "id": "many",
                    "type": "single",
                    "text": "Pick one of many",
                    "choices": [{"id": f"c{i}", "label": f"Choice {i}"} for i in range(12)],
                },
                {
                    "id": "some",
                    "type": "multiple",
                    "text": "Pick some",
                    "choices": [{"id": f"m{i}", "label": f"Many {i}"} for i in range(3)],
                    "max_selections": 2,
                    "required": False,
                },
                {
                    "id": long_id,
                    "type": "text",
                    "text": "Say something",
                    "comment": True,
                    "required": False,
                },
                {"id": "order", "type": "ranking", "text": "Put in order", "items": ["a", "b"]},
            ],
        }
    )


def test_a_long_single_choice_is_a_drop_down_and_ids_stay_within_limits() -> None:
    template = custom_template()
    form = answer_form(template, title="Everything", intro="Hi.", metadata="1")
    assert form.title == "A template with every k…"
    many, some, text, text_comment, order = form.fields()
    assert isinstance(many, SelectField) and len(many.options) == 12
    assert isinstance(some, MultiChoiceField) and some.max_selected == 2
    assert isinstance(text, TextField)
    assert text_comment.id == comment_id(text.id) and len(text_comment.id) == 64
    assert isinstance(order, RankingField) and order.shape == (1, 1)


def test_values_and_stored_answers_convert_both_ways() -> None:
    values: dict[str, FormValue] = everything(
        2, vision=4, **{"trust-comment": "  Guarded.  ", "vision-comment": "   "}
    )
    answers, comments = answers_from_values(HEALTHCHECK, values)
    assert answers["vision"] == 4 and answers["trust"] == 2
    assert answers["diamond_nine"] == DIAMOND_STORED
    assert comments == {"trust": "Guarded."}  # trimmed; blank comments are no comments
    assert HEALTHCHECK.validate_answers(answers, comments) == []
    back = values_from_answers(HEALTHCHECK, answers, comments)
    assert back == {**everything(2, vision=4), "trust-comment": "Guarded."}

    rag = {"current_position": Rag.AMBER, "welcome_support": "not_now"}
    answers, comments = answers_from_values(CHECKIN, rag)
    assert answers == {"current_position": "amber", "welcome_support": "not_now"}
    assert type(answers["current_position"]) is str
    back = values_from_answers(CHECKIN, answers, comments)
    assert back == rag and isinstance(back["current_position"], Rag)

    template = custom_template()
    long_id = template.questions[2].id
    values = {
        "many": "c11",
        "some": ["m0", "m2"],
        long_id: "Words.",
        comment_id(long_id): "More words.",
        "order": {"b": 1, "a": 2},
    }
    answers, comments = answers_from_values(template, values)
    assert answers == {
        "many": "c11",
        "some": ["m0", "m2"],
        long_id: "Words.",
        "order": [["b"], ["a"]],
    }
    assert comments == {long_id: "More words."}
    assert values_from_answers(template, answers, comments) == values


def test_stored_answers_that_no_longer_fit_the_form_are_left_out() -> None:
    answers = {"current_position": "purple", "welcome_support": 3, "position_notes": None}
    assert values_from_answers(CHECKIN, answers, {}) == {}
    assert values_from_answers(HEALTHCHECK, {"vision": "4", "diamond_nine": "x"}, {}) == {}


def test_a_draft_goes_to_json_and_back() -> None:
    form = answer_form(CHECKIN, title="Check-in", intro="Hi.", metadata="3")
    values: dict[str, FormValue] = {
        "current_position": Rag.RED,
        "position_notes": "Falling rolls.",
        "welcome_support": "yes",
    }
    data = values_to_json(values)
    assert data == {
        "current_position": "red",
        "position_notes": "Falling rolls.",
        "welcome_support": "yes",
    }
    assert values_from_json(form, {**data, "gone": "a field no longer on the form"}) == values
    assert values_from_json(form, {"current_position": "purple", "welcome_support": None}) == {}
    healthcheck = answer_form(HEALTHCHECK, title="T", intro="I", metadata="1")
    ranking = values_to_json({"diamond_nine": dict(DIAMOND), "vision": 3})
    assert values_from_json(healthcheck, ranking) == {"diamond_nine": DIAMOND, "vision": 3}


def test_the_summary_says_each_answer_in_words() -> None:
    assert answer_text(HEALTHCHECK, HEALTHCHECK.question("trust"), 2) == "2 of 4 (Partly in place)"
    diamond = answer_text(HEALTHCHECK, HEALTHCHECK.question("diamond_nine"), DIAMOND_STORED)
    assert diamond.splitlines()[0] == "1. " + HEALTHCHECK.item_label("vision")
    assert len(diamond.splitlines()) == 5
    assert answer_text(CHECKIN, CHECKIN.question("current_position"), "amber") == "Amber"
    assert answer_text(CHECKIN, CHECKIN.question("welcome_support"), "not_now") == "Not now"
    template = custom_template()
    assert answer_text(template, template.question("some"), ["m2"]) == "Many 2"
    assert answer_text(template, template.question("some"), []) == "none"
    reply = summary(
        CHECKIN,
        {"current_position": "red", "welcome_support": "yes"},
        {},
        heading="Thanks",
        lead="Lead.",
        note="Note.",
    )
    shown = reply_text(reply)
    assert reply.private and reply.text == "Thanks"
    assert "*What lies behind your rating?*\n_not answered_" in shown
    assert "*Would you welcome support or a peer review?*\nYes" in shown


# --- answering -------------------------------------------------------------------------------


def test_pending_lists_rounds_to_come_then_what_is_open_answered_or_not(hc: Services) -> None:
    head = hc.actor(HEAD)
    assert hc.core.answers.pending(head).items == ()
    round_id = hc.launch()
    found = hc.core.answers.pending(head)
    assert found.items == ()
    assert found.upcoming == (("Partnership healthcheck", OPENS_AT),)
    assert found.zone == LONDON

    hc.open()  # a second round to the same heads, opening now
    hc.core.rounds.tick()
    found = hc.core.answers.pending(head)
    assert [(p.round_id, p.subject, p.answered) for p in found.items][:1] == [
        (round_id, "Colne Valley Partnership", False)
    ]
    assert all(p.closes_at == CLOSES_AT for p in found.items)
    invitation = hc.invitation(round_id, HEAD)
    assert isinstance(answer(hc.core.answers, head, invitation, everything()), Finished)
    answered = {p.invitation_id: p.answered for p in hc.core.answers.pending(head).items}
    assert answered[invitation] is True
    assert sum(answered.values()) == 1
    # Others are not told.
    assert not any(p.answered for p in hc.core.answers.pending(hc.actor(CHAIR)).items)
    assert hc.core.answers.pending(hc.actor(HARLOW_HEAD)).items == ()


def test_a_round_cannot_be_answered_before_it_opens_or_after_it_closes(hc: Services) -> None:
    round_id = hc.launch()
    head = hc.actor(HEAD)
    invitation = hc.invitation(round_id, HEAD)
    with pytest.raises(UserError, match="Partnership healthcheck opens Mon 2 Nov 09:00"):
        hc.core.answers.start(head, invitation)
    hc.clock.current = OPENS_AT  # due, though no tick has opened it yet
    assert isinstance(hc.core.answers.start(head, invitation), ShowPage)
    hc.core.rounds.tick()
    first = hc.core.answers.start(head, invitation)
    meta = str(invitation)
    step = hc.core.answers.submit(head, meta, 0, page_values(first, everything()))
    assert isinstance(step, ShowPage) and len(hc.drafts()) == 1

    hc.clock.current = CLOSES_AT  # the close time, before the tick that closes the round
    with pytest.raises(UserError, match="closed Fri 13 Nov 17:00: answers are no longer"):
        hc.core.answers.start(head, invitation)
    refused = hc.core.answers.submit(head, meta, 1, page_values(step, everything()))
    assert isinstance(refused, Finished) and refused.reply.is_error
    assert "no longer accepted" in reply_text(refused.reply)
    assert "tell your LA officer" in reply_text(refused.reply)
    back = hc.core.answers.back(head, meta, 0, {})
    assert isinstance(back, Finished) and back.reply.is_error
    with pytest.raises(UserError, match="no longer accepted"):
        hc.core.answers.form(head, meta)
    hc.core.rounds.tick()
    assert hc.drafts() == []  # drafts go at the close
    assert hc.responses(round_id) == []


def test_only_the_person_invited_answers_an_invitation(hc: Services) -> None:
    round_id = hc.open()
    invitation = hc.invitation(round_id, HEAD)
    with pytest.raises(
        Forbidden,
        match=r"Only those it was sent to may answer this healthcheck \(Heads in North East\)",
    ):
        hc.core.answers.start(hc.actor(HARLOW_HEAD), invitation)
    with pytest.raises(Forbidden):
        hc.core.answers.start(hc.actor(CHAIR), invitation)  # in the audience, not his
    refused = hc.core.answers.submit(hc.actor(CHAIR), str(invitation), 3, everything())
    assert isinstance(refused, Finished) and refused.reply.is_error
    with pytest.raises(NotFound, match="I can't find that healthcheck"):
        hc.core.answers.start(hc.actor(HEAD), invitation + 1000)
    with pytest.raises(NotFound, match="press Start again"):
        hc.core.answers.form(hc.actor(HEAD), "not a number")
    stranger = hc.actor(STRANGER)
    assert not stranger.linked
    with pytest.raises(UserError, match="/slis whoami"):
        hc.core.answers.start(stranger, invitation)
    with pytest.raises(UserError, match="/slis whoami"):
        hc.core.answers.pending(stranger)
    assert hc.responses(round_id) == [] and hc.drafts() == []


def test_pages_are_kept_in_a_draft_until_the_last_is_sent(hc: Services) -> None:
    round_id = hc.open()
    head = hc.actor(HEAD)
    invitation = hc.invitation(round_id, HEAD)
    meta = str(invitation)
    first = hc.core.answers.start(head, invitation)
    assert first.page == 0 and first.values == {}
    intro = first.form.pages[0].intro or ""
    assert "For *Colne Valley Partnership*, by Fri 13 Nov 17:00." in intro
    assert "This round is anonymous" in intro
    values = everything(3, trust=1, **{"trust-comment": "Guarded."})
    step: FormStep = first
    for page in range(3):
        step = hc.core.answers.submit(head, meta, page, page_values(step, values))
        assert isinstance(step, ShowPage) and step.page == page + 1
        [draft] = hc.drafts()
        assert draft.key == KEYS.draft_key_for(_invitation(hc, invitation))
        assert draft.round_id == round_id
    assert isinstance(step, ShowPage)
    assert step.values["trust-comment"] == "Guarded."  # everything so far travels on
    # Start again half way: the pages gone through are filled in.
    again = hc.core.answers.start(head, invitation)
    assert again.values["trust"] == 1 and again.values["engagement"] == 3
    done = hc.core.answers.submit(head, meta, 3, {"diamond_nine": dict(DIAMOND)})
    assert isinstance(done, Finished) and not done.reply.is_error
    assert done.title == "Healthcheck"
    shown = reply_text(done.reply)
    assert "Thank you: your answers are in" in shown
    assert "This is what you sent." in shown
    assert hc.drafts() == []
    [response] = hc.responses(round_id)
    assert response.respondent_key == KEYS.key_for(_invitation(hc, invitation))
    assert response.respondent_person_id is None and response.revision == 1


def _invitation(hc: Services, invitation_id: int) -> SurveyInvitation:
    with hc.db.session() as s:
        row = s.get(SurveyInvitation, invitation_id)
        assert row is not None
        return row


def test_a_missing_answer_is_shown_on_its_page(hc: Services) -> None:
    round_id = hc.open()
    head = hc.actor(HEAD)
    invitation = hc.invitation(round_id, HEAD)
    meta = str(invitation)
    # The last page sent without the ranking: the problem is shown on that page.
    for page in range(3):
        hc.core.answers.submit(head, meta, page, everything())
    step = hc.core.answers.submit(head, meta, 3, {})
    assert isinstance(step, PageErrors)
    assert list(step.errors) == ["diamond_nine"]
    # An answer missing from an earlier page (its draft lost): that page, with the problem.
    with hc.db.session() as s:
        for draft in s.exec(select(SurveyDraft)).all():
            s.delete(draft)
    step = hc.core.answers.submit(head, meta, 3, {"diamond_nine": dict(DIAMOND)})
    assert isinstance(step, ShowPage) and step.page == 0
    assert set(step.errors) == {"vision", "trust", "engagement"}
    assert step.values == {"diamond_nine": DIAMOND}
    assert hc.responses(round_id) == []


def test_sending_again_replaces_the_answers_and_can_clear_a_comment(hc: Services) -> None:
    round_id = hc.open(anonymous=False)
    head = hc.actor(HEAD)
    invitation = hc.invitation(round_id, HEAD)
    first = everything(3, **{"trust-comment": "Guarded.", "vision-comment": "Clear."})
    assert isinstance(answer(hc.core.answers, head, invitation, first), Finished)
    hc.clock.advance(days=1)

    again = hc.core.answers.start(head, invitation)
    intro = again.form.pages[0].intro or ""
    assert intro.startswith(HEALTHCHECK.description)
    assert "You have sent your answers; what you send now replaces them." in intro
    assert "This is a named round" in intro
    assert again.values == first
    meta = str(invitation)
    # Page 1 sent with the trust comment cleared and vision changed; the rest untouched.
    page_one = page_values(again, first)
    del page_one["trust-comment"]
    page_one["vision"] = 1
    step = hc.core.answers.submit(head, meta, 0, page_one)
    assert isinstance(step, ShowPage) and "trust-comment" not in step.values
    assert step.values["system_leadership"] == 3  # what was sent before, on the next page
    for page in (1, 2):
        step = hc.core.answers.submit(head, meta, page, page_values(step, step.values))
        assert isinstance(step, ShowPage) and step.page == page + 1
    done = hc.core.answers.submit(head, meta, 3, page_values(step, step.values))
    assert isinstance(done, Finished)
    assert "Your answers are updated" in reply_text(done.reply)

    [response] = hc.responses(round_id)
    assert response.revision == 2 and response.respondent_person_id == hc.directory.people[HEAD]
    assert response.submitted_at is not None
    with hc.db.session() as s:
        answers, comments = response_answers(s, response.id)
    assert answers["vision"] == 1 and answers["diamond_nine"] == DIAMOND_STORED
    assert comments == {"vision": "Clear."}


def test_back_keeps_both_pages_answers(hc: Services) -> None:
    round_id = hc.open()
    head = hc.actor(HEAD)
    invitation = hc.invitation(round_id, HEAD)
    meta = str(invitation)
    hc.core.answers.submit(head, meta, 0, {"vision": 4, "trust": 2, "engagement": 1})
    back = hc.core.answers.back(head, meta, 0, {"system_leadership": 4})
    assert isinstance(back, ShowPage) and back.page == 0
    assert back.values == {"vision": 4, "trust": 2, "engagement": 1, "system_leadership": 4}
    forward = hc.core.answers.submit(head, meta, 0, {"vision": 3, "trust": 2, "engagement": 1})
    assert isinstance(forward, ShowPage) and forward.page == 1
    assert forward.values["system_leadership"] == 4 and forward.values["vision"] == 3
    # Back never shows a page the form does not have.
    far = hc.core.answers.back(head, meta, 9, {})
    assert isinstance(far, ShowPage) and far.page == 3


def test_without_the_anonymity_secret_only_named_rounds_are_answered(hc: Services) -> None:
    anonymous = hc.open()
    named = hc.open("school_checkin", anonymous=False, opens_on=date(2026, 11, 2))
    keyless = AnswerService(hc.db, hc.clock, hc.core.calendar.for_tenant, keys=None)
    head = hc.actor(HEAD)
    refused = keyless.submit(head, str(hc.invitation(anonymous, HEAD)), 0, everything())
    assert isinstance(refused, Finished) and refused.reply.is_error
    assert "Anonymous answers can't be taken on this server now." in reply_text(refused.reply)
    invitation = hc.invitation(named, HEAD)
    values: dict[str, FormValue] = {"current_position": Rag.GREEN, "welcome_support": "no"}
    done = answer(keyless, head, invitation, values)
    assert isinstance(done, Finished) and not done.reply.is_error
    assert keyless.start(head, invitation).values == values
    assert [p.answered for p in keyless.pending(head).items if p.round_id == named] == [True]


# --- the launch form -------------------------------------------------------------------------


def test_the_launch_form_is_for_launchers_with_sensible_defaults(hc: Services) -> None:
    flow: LaunchFlow = hc.core.launch
    with pytest.raises(Forbidden, match="Only Project Board members, LA officers and admin"):
        flow.open(hc.actor(HEAD))
    step = flow.open(hc.actor(OFFICER))
    form = step.form
    assert form.callback_id == LAUNCH_FORM and form.page_count == 1
    fields = {f.id: f for f in form.fields()}
    template = fields["template"]
    assert isinstance(template, ChoiceField) and template.initial is None
    assert [o.value for o in template.options] == [
        "partnership_healthcheck",
        "partnership_maturity",
        "school_checkin",
    ]
    audience = fields["audience"]
    assert isinstance(audience, ChoiceField)
    assert [(o.value, o.label) for o in audience.options] == [
        ("head", "Heads"),
        ("partnership_lead", "Partnership leads"),
    ]
    scope = fields["scope"]
    assert isinstance(scope, SelectField) and scope.initial == "county"
    assert [o.label for o in scope.options] == [
        "All of Essex",
        "Quadrant: North East",
        "Quadrant: West",
        "Partnership: Colne Valley Partnership",
        "Partnership: Harlow Collaborative",
    ]
    # Thu 22 Oct: the next school day is Fri 23 Oct; ten school days on (past half term).
    opens, closes = fields["opens_on"], fields["closes_on"]
    assert isinstance(opens, DateField) and opens.initial == date(2026, 10, 23)
    assert isinstance(closes, DateField) and closes.initial == date(2026, 11, 13)
    at = fields["opens_time"]
    assert isinstance(at, TimeField) and at.initial == time(9, 0)
    nudges = fields["nudges"]
    assert isinstance(nudges, MultiChoiceField) and nudges.initial == ("3", "6", "last")


def launch_values(hc: Services, **change: FormValue) -> dict[str, FormValue]:
    values: dict[str, FormValue] = {
        "template": "school_checkin",
        "audience": "head",
        "scope": f"quadrant:{hc.directory.north_east}",
        "opens_on": date(2026, 10, 26),
        "opens_time": time(9, 0),
        "closes_on": date(2026, 11, 13),
        "closes_time": time(17, 0),
        "privacy": "named",
        "nudges": ["3", "last"],
        "repeat": "once",
    }
    values.update(change)
    return values


def test_launching_from_the_form(hc: Services) -> None:
    officer = hc.actor(OFFICER)
    step = hc.core.launch.submit(officer, "", 0, launch_values(hc))
    assert isinstance(step, Finished) and not step.reply.is_error
    shown = reply_text(step.reply)
    assert "Healthcheck round launched" in shown
    assert "School check-in (named)" in shown
    assert "Heads in North East: 3 people" in shown
    assert "Mon 26 Oct is not a school day" in shown
    assert "Thu 5 Nov 09:00" in shown and "Fri 13 Nov 09:00" in shown
    assert "Tue 10 Nov" not in shown  # only the nudges chosen
    with hc.db.session() as s:
        [row] = s.exec(select(SurveyRound)).all()
    assert not row.anonymous and row.template_id == "school_checkin"
    assert row.nudge_plan["after_school_days"] == [3] and row.nudge_plan["last_day"] is True
    assert row.recurrence_kind is None


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"scope": "somewhere"}, "scope", "Choose where the round goes."),
        ({"opens_on": date(2026, 10, 1)}, "opens_on", "The open date has passed"),
        ({"closes_on": date(2026, 10, 26)}, "closes_on", "would close before it opens"),
        ({"audience": "partnership_lead"}, "audience", "School check-in is answered by heads"),
        ({"template": "nonesuch"}, "template", "There is no healthcheck template"),
        (
            {"scope": f"partnership:{10**6}"},
            None,
            "That partnership is not in your local authority's directory.",
        ),
    ],
)
def test_a_launch_that_cannot_be_met_says_why(
    hc: Services, change: dict[str, FormValue], field: str | None, says: str
) -> None:
    step = hc.core.launch.submit(hc.actor(OFFICER), "", 0, launch_values(hc, **change))
    if field is None:
        assert isinstance(step, Finished) and step.reply.is_error
        assert says in reply_text(step.reply)
    else:
        assert isinstance(step, PageErrors)
        assert list(step.errors) == [field] and says in step.errors[field]
    with hc.db.session() as s:
        assert s.exec(select(SurveyRound)).all() == []


def test_a_round_that_repeats_each_term_and_has_no_nudges(hc: Services) -> None:
    values = launch_values(hc, repeat="term", nudges=[], privacy="anonymous")
    values.pop("nudges")
    step = hc.core.launch.submit(hc.actor(OFFICER), "", 0, values)
    assert isinstance(step, Finished) and not step.reply.is_error
    shown = reply_text(step.reply)
    assert "No nudges are planned." in shown and "each term" in shown
    with hc.db.session() as s:
        [row] = s.exec(select(SurveyRound)).all()
    assert row.anonymous and row.recurrence_kind == "term"
    assert row.nudge_plan["at"] == []


def test_a_head_submitting_the_launch_form_is_refused(hc: Services) -> None:
    step = hc.core.launch.submit(hc.actor(HEAD), "", 0, launch_values(hc))
    assert isinstance(step, Finished) and step.reply.is_error
    assert "Only Project Board members, LA officers and administrators" in reply_text(step.reply)


def test_the_confirmation_counts_prompts_and_shows_warnings() -> None:
    launched = Launched(
        round_id=7,
        title="Partnership healthcheck",
        audience="Heads, all of Essex",
        invitations=5,
        people=4,
        opens_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        closes_at=datetime(2026, 11, 13, 17, 0, tzinfo=UTC),
        nudges=(),
        anonymous=True,
        zone=LONDON,
        warnings=("2 of the 4 people have no chat account linked yet",),
    )
    shown = reply_text(launched_reply(launched))
    assert "#7 Partnership healthcheck (anonymous)" in shown
    assert "5 prompts in all: some people answer for more than one partnership." in shown
    assert "⚠️ 2 of the 4 people have no chat account linked yet" in shown
    assert "/slis healthcheck status 7" in shown
