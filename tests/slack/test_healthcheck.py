"""Healthcheck surveys end to end in Slack: issue 4's acceptance, driven by signed requests.

Launching from the modal, the round's prompts and nudges through the outbox, answering page by
page through real `view_submission` payloads, refusals, anonymity checked over the whole
database, and `/slis healthcheck` and its `status`. See tests.slack.healthcheck_world for the
directory, the dates and how time and the outbox are moved on.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlmodel import col, select

from bot.services.healthcheck.prompts import START_ACTION
from storage.engine import Database
from storage.outbox_tables import OutboxMessage
from storage.survey_tables import (
    SurveyAnswer,
    SurveyDraft,
    SurveyInvitation,
    SurveyResponse,
    SurveyRound,
)
from tests.fakes.slack_api import FakeSlackApi
from tests.slack.directory import CHAIR, HEAD
from tests.slack.healthcheck_world import (
    CLOSES_AT,
    CONDITIONS,
    DIAMOND,
    DIAMOND_STORED,
    HARLOW_HEAD,
    LATE_HEAD,
    NORTH_EAST_HEADS,
    NUDGES_AT,
    OAKWOOD_HEAD,
    OFFICER,
    OPENS_AT,
    HealthcheckWorld,
    Shown,
    add_late_head,
    blocks_of,
    buttons,
    healthcheck_world,
    partnership_answers,
    texts,
)
from tests.slack.test_forms import state_for

JSON = dict[str, Any]


@pytest.fixture
async def hc(
    database_url: str, db: Database, fake_slack: FakeSlackApi
) -> AsyncIterator[HealthcheckWorld]:
    async with healthcheck_world(database_url, db, fake_slack) as world:
        yield world


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def responses(hc: HealthcheckWorld, round_id: int) -> list[SurveyResponse]:
    with hc.db.session() as s:
        return list(s.exec(select(SurveyResponse).where(SurveyResponse.round_id == round_id)).all())


def answers_of(hc: HealthcheckWorld, response: SurveyResponse) -> dict[str, tuple[Any, Any]]:
    with hc.db.session() as s:
        rows = s.exec(select(SurveyAnswer).where(SurveyAnswer.response_id == response.id)).all()
        return {a.question_id: (a.value, a.comment) for a in rows}


def drafts(hc: HealthcheckWorld) -> list[SurveyDraft]:
    with hc.db.session() as s:
        return list(s.exec(select(SurveyDraft)).all())


def selected(shown: Shown) -> dict[str, Any]:
    """What each input on the page shows as answered, by block id."""
    found: dict[str, Any] = {}
    for block in shown.view["blocks"]:
        if block["type"] != "input":
            continue
        element = block["element"]
        if "initial_option" in element:
            found[block["block_id"]] = element["initial_option"]["value"]
        elif "initial_options" in element:
            found[block["block_id"]] = [o["value"] for o in element["initial_options"]]
        elif "initial_value" in element:
            found[block["block_id"]] = element["initial_value"]
    return found


def input_blocks(shown: Shown) -> list[str]:
    return [b["block_id"] for b in shown.view["blocks"] if b["type"] == "input"]


# --- 1. launching ---------------------------------------------------------------------------


async def test_an_officer_launches_a_round_to_one_quadrant_from_the_launch_modal(
    hc: HealthcheckWorld,
) -> None:
    ack, shown = await hc.open_launch_form(OFFICER)
    assert ack == {}, "the command is acknowledged without a message"
    assert shown is not None
    view = shown.view
    assert view["callback_id"] == "slis.healthcheck.launch"
    assert view["title"]["text"] == "Launch a healthcheck"
    assert view["submit"]["text"] == "Launch"
    assert input_blocks(shown) == [
        "template",
        "audience",
        "scope",
        "opens_on",
        "opens_time",
        "closes_on",
        "closes_time",
        "privacy",
        "nudges",
        "repeat",
    ]
    assert json.loads(view["private_metadata"]) == {
        "form": "slis.healthcheck.launch",
        "page": 0,
        "meta": "",
    }
    scope = next(b for b in view["blocks"] if b.get("block_id") == "scope")
    scopes = {o["value"]: o["text"]["text"] for o in scope["element"]["options"]}
    assert scopes[f"quadrant:{hc.directory.north_east}"] == "Quadrant: North East"

    round_id, result = await hc.launch()
    confirmation = texts(result["view"]["blocks"])
    assert result["view"]["title"]["text"] == "Healthcheck"
    assert "Healthcheck round launched" in confirmation
    assert f"#{round_id} Partnership healthcheck (anonymous)" in confirmation
    assert "Heads in North East: 3 people" in confirmation
    assert "Mon 2 Nov 09:00" in confirmation and "Fri 13 Nov 17:00" in confirmation
    assert "The open time moved: Mon 26 Oct is not a school day (half term)." in confirmation
    for nudge in ("Thu 5 Nov 09:00", "Tue 10 Nov 09:00", "Fri 13 Nov 09:00"):
        assert nudge in confirmation
    assert f"/slis healthcheck status {round_id}" in confirmation

    with hc.db.session() as s:
        row = s.get(SurveyRound, round_id)
        assert row is not None
        assert (row.status, row.anonymous, row.template_id) == (
            "scheduled",
            True,
            "partnership_healthcheck",
        )
        assert aware(row.opens_at) == OPENS_AT and aware(row.closes_at) == CLOSES_AT
        assert row.launched_by == hc.person(OFFICER)
        assert row.audience_label == "Heads in North East"
    invited = hc.invitations(round_id)
    assert set(invited) == set(NORTH_EAST_HEADS)
    colne_valley = {(i.subject_kind, i.subject_id) for i in invited.values()}
    assert len(colne_valley) == 1 and next(iter(colne_valley))[0] == "partnership"
    # Nothing goes out at launch: the prompts wait for the open time.
    assert hc.fake.calls_to("chat.postMessage") == []


async def test_a_head_asking_for_the_launch_form_is_told_who_may_launch(
    hc: HealthcheckWorld,
) -> None:
    ack, shown = await hc.open_launch_form(HEAD)
    assert shown is None
    assert ack["response_type"] == "ephemeral"
    assert (
        "Only Project Board members, LA officers and administrators may launch a healthcheck"
        " round." in texts(ack["blocks"])
    )
    with hc.db.session() as s:
        assert s.exec(select(SurveyRound)).all() == []


async def test_a_launch_that_cannot_be_met_is_shown_on_the_field_at_fault(
    hc: HealthcheckWorld,
) -> None:
    _, shown = await hc.open_launch_form()
    assert shown is not None
    base = {"template": "partnership_healthcheck", "opens_on": "2026-11-02"}
    past = await hc.submit(shown, {**base, "closes_on": "2026-10-20"})
    assert past == {
        "response_action": "errors",
        "errors": {"closes_on": "The close date has passed: choose a later one."},
    }
    checkin = await hc.submit(shown, {**base, "template": "school_checkin", "audience": "head"})
    assert checkin["response_action"] == "update"  # a school check-in for heads is fine
    _, shown = await hc.open_launch_form()
    assert shown is not None
    wrong = await hc.submit(
        shown, {**base, "template": "school_checkin", "audience": "partnership_lead"}
    )
    assert wrong["response_action"] == "errors"
    assert "School check-in is answered by heads" in wrong["errors"]["audience"]


# --- 2. the round: prompts, nudges, close -----------------------------------------------------


async def test_a_round_to_the_heads_of_one_quadrant_from_open_to_close(
    hc: HealthcheckWorld,
) -> None:
    round_id, _ = await hc.launch()
    invited = {user: hc.invitation(round_id, user) for user in NORTH_EAST_HEADS}
    late = add_late_head(hc.db, hc.directory)

    # Before the open time nothing goes out, however often the rounds are moved on.
    assert await hc.tick_and_deliver(datetime(2026, 10, 26, 9, 0, tzinfo=UTC)) == []
    assert await hc.tick_and_deliver(OPENS_AT - timedelta(minutes=1)) == []

    # At the open time (the next school day after half term): one prompt to each head.
    prompts = await hc.tick_and_deliver(OPENS_AT)
    assert sorted(m.channel for m in prompts) == sorted(f"D{u}" for u in NORTH_EAST_HEADS)
    for user in NORTH_EAST_HEADS:
        [call] = hc.dm_calls(user)
        prompt = texts(blocks_of(call))
        assert "*Partnership healthcheck* for *Colne Valley Partnership* is open until" in prompt
        assert "Fri 13 Nov 17:00" in prompt and "This round is anonymous" in prompt
        assert hc.start_button(user)["value"] == str(invited[user])
    with hc.db.session() as s:
        rows = s.exec(select(OutboxMessage).where(col(OutboxMessage.key).like("survey:%"))).all()
        assert {aware(r.not_before) for r in rows} == {OPENS_AT}
        assert {r.status for r in rows} == {"sent"}
    # The head added after the launch is not in the frozen audience.
    assert hc.dm_calls(LATE_HEAD) == []
    assert late not in {i.person_id for i in hc.invitations(round_id).values()}
    # Moving on again sends nothing twice.
    assert await hc.tick_and_deliver(OPENS_AT + timedelta(hours=1)) == []

    # Alice answers on the Tuesday.
    hc.at(datetime(2026, 11, 3, 10, 0, tzinfo=UTC))
    shown = await hc.start(HEAD, invited[HEAD])
    summary = await hc.answer_all(shown, partnership_answers(3), pages=4)
    assert "Thank you: your answers are in" in texts(summary["view"]["blocks"])

    # First nudge (3 school days after the open): only those who have not answered.
    assert await hc.tick_and_deliver(NUDGES_AT[0] - timedelta(minutes=1)) == []
    nudged = await hc.tick_and_deliver(NUDGES_AT[0])
    assert sorted(m.channel for m in nudged) == sorted([f"D{CHAIR}", f"D{OAKWOOD_HEAD}"])
    for user in (CHAIR, OAKWOOD_HEAD):
        reminder = texts(blocks_of(hc.dm_calls(user)[-1]))
        assert "A reminder: *Partnership healthcheck* for *Colne Valley Partnership*" in reminder
        assert hc.start_button(user)["value"] == str(invited[user])
    assert len(hc.dm_calls(HEAD)) == 1

    # Chris answers before the second nudge; Hana never does.
    hc.at(datetime(2026, 11, 9, 15, 0, tzinfo=UTC))
    shown = await hc.start(CHAIR, invited[CHAIR])
    await hc.answer_all(shown, partnership_answers(2))
    for when in NUDGES_AT[1:]:
        nudged = await hc.tick_and_deliver(when)
        assert [m.channel for m in nudged] == [f"D{OAKWOOD_HEAD}"]
    assert [len(hc.dm_calls(u)) for u in NORTH_EAST_HEADS] == [1, 2, 4]
    assert hc.dm_calls(LATE_HEAD) == []

    # Hana opens the form in the last afternoon, but sends it only after the close.
    hc.at(CLOSES_AT - timedelta(hours=1))
    late_form = await hc.start(OAKWOOD_HEAD, invited[OAKWOOD_HEAD])
    assert await hc.tick_and_deliver(CLOSES_AT) == []
    with hc.db.session() as s:
        row = s.get(SurveyRound, round_id)
        assert row is not None and row.status == "closed" and row.nudges_done == 3
    refused = await hc.submit(late_form, partnership_answers(4))
    assert refused["response_action"] == "update"
    says = texts(refused["view"]["blocks"])
    assert "Partnership healthcheck closed Fri 13 Nov 17:00: answers are no longer accepted." in (
        says
    )
    # ... and a Start press after the close says the same, privately.
    answer = await hc.press_start(OAKWOOD_HEAD, invited[OAKWOOD_HEAD])
    assert isinstance(answer, dict)
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert "closed Fri 13 Nov 17:00: answers are no longer accepted" in answer["text"]
    # A person who had answered cannot change their answers after the close either.
    again = await hc.press_start(HEAD, invited[HEAD])
    assert isinstance(again, dict) and "no longer accepted" in again["text"]
    assert len(responses(hc, round_id)) == 2
    # Sealed at the close: the invitations of those who answered are marked, without a time.
    with hc.db.session() as s:
        marked = {
            i.id: (i.answered, i.answered_at)
            for i in s.exec(select(SurveyInvitation).where(SurveyInvitation.round_id == round_id))
        }
    assert marked == {
        invited[HEAD]: (True, None),
        invited[CHAIR]: (True, None),
        invited[OAKWOOD_HEAD]: (False, None),
    }
    assert drafts(hc) == []
    # Every message reached Slack once.
    assert all(n == 1 for n in hc.fake.posted_keys().values())
    assert len(hc.fake.posted_keys()) == 3 + 2 + 1 + 1


# --- 3. answering through the real payloads -------------------------------------------------


async def test_answering_the_partnership_healthcheck_page_by_page(hc: HealthcheckWorld) -> None:
    round_id = await hc.open_round()
    invitation = hc.invitation(round_id, HEAD)
    shown = await hc.start(HEAD, hc.start_button(HEAD)["value"])
    assert shown.view["callback_id"] == "slis.healthcheck.answer"
    assert json.loads(shown.view["private_metadata"]) == {
        "form": "slis.healthcheck.answer",
        "page": 0,
        "meta": str(invitation),
    }
    assert "Page 1 of 4" in shown.text
    assert "For *Colne Valley Partnership*, by Fri 13 Nov 17:00." in shown.text
    assert input_blocks(shown) == [
        "vision",
        "vision-comment",
        "trust",
        "trust-comment",
        "engagement",
        "engagement-comment",
    ]
    assert shown.view["submit"]["text"] == "Next"
    answers = partnership_answers(
        3,
        trust=2,
        vision=4,
        **{"trust-comment": "Trust has slipped since the restructure."},
    )
    pages = [input_blocks(shown)]
    for number in (2, 3, 4):
        ack = await hc.submit(shown, answers)
        assert ack["response_action"] == "update"
        assert f"Page {number} of 4" in shown.text
        pages.append(input_blocks(shown))
        # The pages gone through wait in a draft, under a key that names nobody.
        [draft] = drafts(hc)
        assert re.fullmatch(r"[0-9a-f]{64}", draft.key)
    assert pages[3] == ["diamond_nine", *(f"diamond_nine.{c}" for c in CONDITIONS[1:])]
    assert shown.view["submit"]["text"] == "Send answers"
    ack = await hc.submit(shown, answers)
    assert ack["response_action"] == "update"
    summary = texts(ack["view"]["blocks"])
    assert "callback_id" not in ack["view"]
    assert "Thank you: your answers are in" in summary
    assert "*Partnership healthcheck* for *Colne Valley Partnership*" in summary
    assert "4 of 4 (Fully in place)" in summary and "2 of 4 (Partly in place)" in summary
    assert "_Comment:_ Trust has slipped since the restructure." in summary
    assert "1. A clear and compelling vision" in summary
    assert "You can change them until Fri 13 Nov 17:00" in summary

    [response] = responses(hc, round_id)
    assert response.respondent_person_id is None and response.respondent_key is not None
    assert response.submitted_at is None and response.revision == 1
    assert (response.subject_kind, response.subject_id) == (
        "partnership",
        hc.invitations(round_id)[HEAD].subject_id,
    )
    stored = answers_of(hc, response)
    assert stored["vision"] == (4, None)
    assert stored["trust"] == (2, "Trust has slipped since the restructure.")
    assert {q: v for q, (v, _) in stored.items() if q in CONDITIONS[2:]} == dict.fromkeys(
        CONDITIONS[2:], 3
    )
    assert stored["diamond_nine"] == (DIAMOND_STORED, None)
    assert drafts(hc) == []


async def test_back_shows_the_earlier_page_with_its_answers_and_keeps_this_ones(
    hc: HealthcheckWorld,
) -> None:
    round_id = await hc.open_round()
    shown = await hc.start(HEAD, round_id=round_id)
    first = {"vision": 4, "vision-comment": "Shared and owned.", "trust": 1, "engagement": 2}
    await hc.submit(shown, first)
    assert shown.page == 1
    # On page 2, rate one condition, then go back.
    await hc.back(shown, {"system_leadership": 4})
    assert shown.page == 0 and "Page 1 of 4" in shown.text
    assert selected(shown) == {
        "vision": "4",
        "vision-comment": "Shared and owned.",
        "trust": "1",
        "engagement": "2",
    }
    # Forward again: page 2 still has what was chosen on it before going back.
    await hc.submit(shown)
    assert shown.page == 1 and selected(shown)["system_leadership"] == "4"
    # Back from the last page keeps the ranking given so far.
    await hc.submit(shown, partnership_answers(3, system_leadership=4))
    await hc.submit(shown, partnership_answers(3))
    assert shown.page == 3
    await hc.back(shown, {"diamond_nine": {"vision": 2}})
    assert shown.page == 2
    await hc.submit(shown)
    assert selected(shown)["diamond_nine"] == "2"
    ack = await hc.submit(shown, {"diamond_nine": DIAMOND})
    assert "Thank you: your answers are in" in texts(ack["view"]["blocks"])
    [response] = responses(hc, round_id)
    stored = answers_of(hc, response)
    assert stored["vision"] == (4, "Shared and owned.")
    assert stored["trust"][0] == 1 and stored["system_leadership"][0] == 4


async def test_pressing_start_again_shows_what_was_sent_and_resubmitting_updates_it(
    hc: HealthcheckWorld,
) -> None:
    round_id = await hc.open_round()
    shown = await hc.start(HEAD, round_id=round_id)
    await hc.answer_all(shown, partnership_answers(3, **{"trust-comment": "Guarded meetings."}))
    [first] = responses(hc, round_id)

    again = await hc.start(HEAD, round_id=round_id)
    assert "You have sent your answers; what you send now replaces them." in again.text
    assert selected(again)["vision"] == "3"
    assert selected(again)["trust-comment"] == "Guarded meetings."
    # Change one rating on the first page and clear the comment; every later page shows what
    # was sent, and goes through unchanged.
    state = state_for(again.view, {"trust": "1", "trust-comment": None})
    await hc.submit(again, state=state)
    assert selected(again)["system_leadership"] == "3"
    await hc.submit(again)
    await hc.submit(again)
    assert selected(again)["diamond_nine"] == "1"
    ack = await hc.submit(again)
    summary = texts(ack["view"]["blocks"])
    assert "Your answers are updated" in summary

    [second] = responses(hc, round_id)
    assert second.id == first.id and second.revision == 2
    stored = answers_of(hc, second)
    assert stored["trust"] == (1, None)
    assert stored["vision"] == (3, None) and stored["diamond_nine"][0] == DIAMOND_STORED
    assert drafts(hc) == []


async def test_answering_the_school_checkin_in_a_named_round(hc: HealthcheckWorld) -> None:
    round_id = await hc.open_round(template="school_checkin", privacy="named")
    invited = hc.invitations(round_id)
    assert {i.subject_kind for i in invited.values()} == {"school"}
    prompt = texts(blocks_of(hc.dm_calls(HEAD)[-1]))
    assert "*School check-in* for *Great Oakley Primary School*" in prompt
    assert "This is a named round" in prompt

    shown = await hc.start(HEAD, round_id=round_id)
    assert "Page" not in shown.text  # one page
    assert input_blocks(shown) == ["current_position", "position_notes", "welcome_support"]
    rag = next(b for b in shown.view["blocks"] if b.get("block_id") == "current_position")
    assert [o["value"] for o in rag["element"]["options"]] == ["red", "amber", "green"]
    ack = await hc.submit(
        shown,
        {
            "current_position": "amber",
            "position_notes": "A new deputy starts in January.",
            "welcome_support": "yes",
        },
    )
    summary = texts(ack["view"]["blocks"])
    assert "Thank you: your answers are in" in summary and "Amber" in summary
    assert "This is a named round" in summary

    [response] = responses(hc, round_id)
    assert response.respondent_person_id == hc.person(HEAD) and response.respondent_key is None
    assert (response.subject_kind, response.subject_id) == (
        "school",
        invited[HEAD].subject_id,
    )
    assert aware(response.submitted_at) == hc.clock.now()
    assert answers_of(hc, response) == {
        "current_position": ("amber", None),
        "position_notes": ("A new deputy starts in January.", None),
        "welcome_support": ("yes", None),
    }
    with hc.db.session() as s:
        invitation = s.get(SurveyInvitation, invited[HEAD].id)
        assert invitation is not None and invitation.answered

    # Changed the next day: the same response, revision 2.
    hc.at(hc.clock.now() + timedelta(days=1))
    again = await hc.start(HEAD, round_id=round_id)
    assert selected(again)["current_position"] == "amber"
    await hc.submit(again, {"current_position": "red"})
    [changed] = responses(hc, round_id)
    assert changed.id == response.id and changed.revision == 2
    assert answers_of(hc, changed)["current_position"] == ("red", None)


async def test_a_missing_required_answer_is_shown_on_its_field(hc: HealthcheckWorld) -> None:
    round_id = await hc.open_round(template="school_checkin", privacy="named")
    shown = await hc.start(HEAD, round_id=round_id)
    # Slack asks for required inputs itself; a stale or crafted payload can still lack one.
    state = state_for(shown.view, {"welcome_support": "no", "current_position": "green"})
    del state["values"]["current_position"]
    ack = await hc.submit(shown, state=state)
    assert ack == {
        "response_action": "errors",
        "errors": {"current_position": "Please answer this question."},
    }
    assert responses(hc, round_id) == []


async def test_a_diamond_that_is_not_a_diamond_is_shown_on_the_ranking(
    hc: HealthcheckWorld,
) -> None:
    round_id = await hc.open_round()
    shown = await hc.start(HEAD, round_id=round_id)
    for _ in range(3):
        await hc.submit(shown, partnership_answers(3))
    ack = await hc.submit(shown, {"diamond_nine": dict.fromkeys(CONDITIONS, 1)})
    assert ack["response_action"] == "errors"
    assert list(ack["errors"]) == ["diamond_nine"]
    assert responses(hc, round_id) == []


async def test_a_required_answer_lost_from_an_earlier_page_takes_the_person_back_to_it(
    hc: HealthcheckWorld,
) -> None:
    round_id = await hc.open_round()
    shown = await hc.start(HEAD, round_id=round_id)
    for _ in range(3):
        await hc.submit(shown, partnership_answers(3))
    # The draft of the first three pages is lost (e.g. cleared by an administrator).
    with hc.db.session() as s:
        for draft in s.exec(select(SurveyDraft)).all():
            s.delete(draft)
    ack = await hc.submit(shown, {"diamond_nine": DIAMOND})
    assert ack["response_action"] == "update"
    assert shown.page == 0
    assert "Please answer this question." in json.dumps(shown.view)
    assert responses(hc, round_id) == []


async def test_someone_outside_the_audience_cannot_answer(hc: HealthcheckWorld) -> None:
    round_id = await hc.open_round()
    alices = hc.invitation(round_id, HEAD)
    # Wes, a head in West, presses Start with Alice's invitation number.
    refused = await hc.press_start(HARLOW_HEAD, alices)
    assert isinstance(refused, dict)
    assert refused["response_type"] == "ephemeral"
    assert "Only those it was sent to may answer this healthcheck" in refused["text"]
    assert "(Heads in North East)" in refused["text"]
    # Nor can he send a page of her form (say, its view replayed under his name).
    shown = await hc.start(HEAD, alices)
    shown.user = HARLOW_HEAD
    ack = await hc.submit(shown, partnership_answers(1))
    assert ack["response_action"] == "update"
    assert "Only those it was sent to may answer this healthcheck" in texts(ack["view"]["blocks"])
    assert "callback_id" not in ack["view"]
    assert drafts(hc) == [] and responses(hc, round_id) == []
    # An invitation number that does not exist is not found.
    missing = await hc.press_start(HARLOW_HEAD, alices + 1000)
    assert isinstance(missing, dict) and "I can't find that healthcheck." in missing["text"]
    # Nobody got a second prompt out of it, and Alice can still answer.
    shown = await hc.start(HEAD, alices)
    await hc.answer_all(shown, partnership_answers(2))
    assert len(responses(hc, round_id)) == 1


# --- 4. anonymity over the whole database ---------------------------------------------------

IDENTIFYING = {
    # The columns that could carry a link on the answers' side: ids, keys and times.
    "survey_response": ["id", "respondent_person_id", "respondent_key", "submitted_at"],
    "survey_answer": ["response_id"],
}
PERSON_SIDE = ("person", "chat_identity", "survey_invitation", "outbox_message", "survey_draft")


def link_attempts(db: Database, *, sealed: int | None = None) -> tuple[int, list[str]]:
    """Every join of an identifying column of an answer with every column of a table that
    names (or stands for) a person: equal, or one inside the other's text; on PostgreSQL also
    the transaction that wrote the rows (xmin). Returns how many were tried and those that
    matched a row.

    `sealed`: a round sealed at its close, which marks who answered in the transaction that
    rewrites the responses: their xmin is then shared with exactly the round's answered
    invitations, all of them alike, which tells no more than the answered flags themselves.
    """
    cast = "VARCHAR" if db.engine.dialect.name == "postgresql" else "TEXT"
    tried, found = 0, []
    with db.engine.connect() as conn:
        for p_table in PERSON_SIDE:
            p_columns = [c["name"] for c in inspect(db.engine).get_columns(p_table)]
            for a_table, a_columns in IDENTIFYING.items():
                for a_col in a_columns:
                    a = f'CAST(a."{a_col}" AS {cast})'
                    for p_col in p_columns:
                        p = f'CAST(p."{p_col}" AS {cast})'
                        joins = f"{a} = {p} OR {p} LIKE '%' || {a} || '%'"
                        count = conn.execute(
                            text(
                                f"SELECT COUNT(*) FROM {a_table} a JOIN {p_table} p "  # noqa: S608
                                f"ON {joins}"
                            )
                        ).scalar_one()
                        tried += 1
                        if count:
                            found.append(f"{a_table}.{a_col} ~ {p_table}.{p_col}")
        if db.engine.dialect.name == "postgresql":
            # Rows written in one transaction share xmin: an answer must share it with nothing
            # that names a person.
            for a_table in IDENTIFYING:
                for p_table in PERSON_SIDE:
                    shared = conn.execute(
                        text(
                            f"SELECT DISTINCT a.xmin::text FROM {a_table} a "  # noqa: S608
                            f"JOIN {p_table} p ON a.xmin::text = p.xmin::text"
                        )
                    ).scalars()
                    tried += 1
                    for xmin in shared:
                        if not _sealed_alike(conn, sealed, a_table, p_table, xmin):
                            found.append(f"{a_table}.xmin ~ {p_table}.xmin")
    return tried, found


def _sealed_alike(conn: Any, round_id: int | None, a_table: str, p_table: str, xmin: str) -> bool:
    """Whether rows sharing `xmin` are the seal's: every answer of the round and every answered
    invitation of it, and nothing else."""
    if round_id is None or p_table != "survey_invitation":
        return False
    response = "a.id" if a_table == "survey_response" else "a.response_id"
    answers_with = conn.execute(
        text(f"SELECT COUNT(*) FROM {a_table} a WHERE a.xmin::text = :x"),  # noqa: S608
        {"x": xmin},
    ).scalar_one()
    answers_of_round = conn.execute(
        text(
            f"SELECT COUNT(*) FROM {a_table} a JOIN survey_response r "  # noqa: S608
            f"ON r.id = {response} WHERE r.round_id = :r"
        ),
        {"r": round_id},
    ).scalar_one()
    marked = set(
        conn.execute(
            text("SELECT id FROM survey_invitation WHERE xmin::text = :x"), {"x": xmin}
        ).scalars()
    )
    answered = set(
        conn.execute(
            text("SELECT id FROM survey_invitation WHERE round_id = :r AND answered"),
            {"r": round_id},
        ).scalars()
    )
    return answers_with == answers_of_round and marked == answered


async def test_in_an_anonymous_round_nothing_joins_an_answer_to_a_person(
    hc: HealthcheckWorld, caplog: pytest.LogCaptureFixture
) -> None:
    round_id = await hc.open_round()
    invited = hc.invitations(round_id)
    caplog.set_level(logging.DEBUG)
    with hc.db.engine.connect() as conn:
        sent_before = conn.execute(text("SELECT COUNT(*) FROM outbox_message")).scalar_one()
    for user, rating in ((HEAD, 2), (CHAIR, 3)):
        hc.at(hc.clock.now() + timedelta(hours=5))
        shown = await hc.start(user, round_id=round_id)
        await hc.answer_all(shown, partnership_answers(rating, **{"trust-comment": "Fragile."}))
    # Hana goes through two pages and stops: her draft waits, under its own key.
    hc.at(hc.clock.now() + timedelta(hours=5))
    shown = await hc.start(OAKWOOD_HEAD, round_id=round_id)
    await hc.submit(shown, partnership_answers(4))
    await hc.submit(shown, partnership_answers(4))
    assert len(drafts(hc)) == 1 and len(responses(hc, round_id)) == 2

    # Answering wrote nothing that names a person: no message, no mark on the invitations.
    with hc.db.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM outbox_message")).scalar_one() == (
            sent_before
        )
    with hc.db.session() as s:
        rows = s.exec(select(SurveyInvitation).where(SurveyInvitation.round_id == round_id)).all()
        assert all(not i.answered and i.answered_at is None for i in rows)
    # The answers carry no person, no invitation and no time.
    for response in responses(hc, round_id):
        assert response.respondent_person_id is None and response.submitted_at is None
        assert response.subject_kind == "partnership"
    subject_ids = {r.subject_id for r in responses(hc, round_id)}
    assert subject_ids == {invited[HEAD].subject_id}
    # What an answer shares with people by design is the group it is filed under: here the
    # partnership all three heads were asked about, never one person.
    with hc.db.session() as s:
        group = s.exec(
            select(SurveyInvitation).where(
                SurveyInvitation.round_id == round_id,
                SurveyInvitation.response_subject_id == invited[HEAD].subject_id,
            )
        ).all()
        assert len(group) == 3

    tried, found = link_attempts(hc.db)
    assert tried > 100
    assert found == []

    # No log record of the answering (at any level, Bolt's debug lines included) names a
    # respondent, their invitation, or a response.
    people = [hc.person(u) for u in NORTH_EAST_HEADS]
    named = re.compile(
        "|".join(
            [
                *(re.escape(u) for u in NORTH_EAST_HEADS),
                "Alice Hart",
                "Chris Chalk",
                "Hana Oak",
                r"@\w+\.example\.org",
                r"@greatoakley|@colne",
                *(rf"\b(person|invitation)s? #?{i}\b" for i in people),
                *(rf"\binvitations? #?{invited[u].id}\b" for u in NORTH_EAST_HEADS),
                *(re.escape(str(r.id)) for r in responses(hc, round_id)),
                *(r.id.hex for r in responses(hc, round_id)),
                *(str(r.respondent_key) for r in responses(hc, round_id)),
            ]
        )
    )
    assert caplog.records, "the requests were logged at debug level"
    for record in caplog.records:
        assert not named.search(record.getMessage()), record.getMessage()

    # After the close and the seal the same holds (and the draft is gone).
    await hc.tick_and_deliver(CLOSES_AT)
    assert drafts(hc) == []
    tried, found = link_attempts(hc.db, sealed=round_id)
    assert found == []


# --- 5. `/slis healthcheck` and its status --------------------------------------------------


async def test_healthcheck_lists_what_i_have_to_answer_and_what_i_have_answered(
    hc: HealthcheckWorld,
) -> None:
    nothing = await hc.command("healthcheck", HEAD)
    assert "You have no healthcheck to answer at the moment." in texts(nothing["blocks"])

    partnership = await hc.open_round()
    checkin, _ = await hc.launch(template="school_checkin", privacy="named", opens_on="2026-11-02")
    await hc.tick()
    mine = {
        "partnership": hc.invitation(partnership, HEAD),
        "checkin": hc.invitation(checkin, HEAD),
    }
    listed = await hc.command("healthcheck", HEAD)
    assert listed["response_type"] == "ephemeral"
    shown = texts(listed["blocks"])
    assert "Your healthchecks" in shown
    assert "*Partnership healthcheck* for *Colne Valley Partnership*: by Fri 13 Nov 17:00" in shown
    assert "*School check-in* for *Great Oakley Primary School*: by Fri 13 Nov 17:00" in shown
    starts = buttons(listed["blocks"])
    assert {(b["text"]["text"], b["action_id"], b["value"]) for b in starts} == {
        ("Start", START_ACTION, str(mine["partnership"])),
        ("Start", START_ACTION, str(mine["checkin"])),
    }

    # The Start button in the list opens the form too; once answered it is listed as such.
    form = await hc.start(HEAD, int(starts[0]["value"]))
    await hc.answer_all(form, partnership_answers(3) | {"current_position": "green"})
    answered_id = int(starts[0]["value"])
    waiting_id = int(starts[1]["value"])
    listed = await hc.command("healthcheck", HEAD)
    shown = texts(listed["blocks"])
    assert "answered; you can change your answers until Fri 13 Nov 17:00" in shown
    assert {(b["text"]["text"], b["value"]) for b in buttons(listed["blocks"])} == {
        ("Start", str(waiting_id)),
        ("Change my answers", str(answered_id)),
    }
    change = await hc.start(HEAD, answered_id)
    assert "You have sent your answers" in change.text

    # Others see only their own; a head in West has none.
    chris = texts((await hc.command("healthcheck", CHAIR))["blocks"])
    assert "Colne Community School" in chris and "Great Oakley" not in chris
    wes = await hc.command("healthcheck", HARLOW_HEAD)
    assert "You have no healthcheck to answer at the moment." in texts(wes["blocks"])

    # After the close nothing is left to answer.
    await hc.tick_and_deliver(CLOSES_AT)
    closed = await hc.command("healthcheck", HEAD)
    assert "You have no healthcheck to answer at the moment." in texts(closed["blocks"])


async def test_a_round_to_come_is_listed_before_it_opens(hc: HealthcheckWorld) -> None:
    await hc.launch()
    listed = texts((await hc.command("healthcheck", HEAD))["blocks"])
    assert "Nothing to answer now." in listed
    assert "Partnership healthcheck, opens Mon 2 Nov 09:00" in listed


async def test_the_launcher_follows_the_response_rates_and_a_head_may_not(
    hc: HealthcheckWorld,
) -> None:
    round_id = await hc.open_round()
    status = await hc.command("healthcheck status", OFFICER)
    shown = texts(status["blocks"])
    assert f"#{round_id} Partnership healthcheck: responses" in shown
    assert "open until Fri 13 Nov 17:00" in shown
    assert "0 of 3 (0%)" in shown
    assert "0 of 3 sent" in shown  # nudges

    shown_form = await hc.start(HEAD, round_id=round_id)
    await hc.answer_all(shown_form, partnership_answers(3))
    await hc.tick_and_deliver(NUDGES_AT[0])
    status = await hc.command(f"healthcheck status {round_id}", OFFICER)
    shown = texts(status["blocks"])
    assert "1 of 3 (33%)" in shown
    assert "North East: 1 of 3 (33%)" in shown
    assert "Colne Valley Partnership: 1 of 3 (33%)" in shown
    assert "1 of 3 sent" in shown
    assert "Anonymous round: these are counts of who has answered, never what they said." in shown

    refused = await hc.command(f"healthcheck status {round_id}", HEAD)
    says = texts(refused["blocks"])
    assert refused["response_type"] == "ephemeral"
    assert (
        "Only the person who launched it or Project Board members, LA officers and"
        f" administrators may see a round's response rates (round #{round_id})." in says
    )
    # After the close the rates are those of the sealed round.
    await hc.tick_and_deliver(CLOSES_AT)
    final = texts((await hc.command("healthcheck status", OFFICER))["blocks"])
    assert "closed Fri 13 Nov 17:00" in final and "1 of 3 (33%)" in final


async def test_status_of_a_round_that_does_not_exist_or_a_mistyped_subcommand(
    hc: HealthcheckWorld,
) -> None:
    none_yet = texts((await hc.command("healthcheck status", OFFICER))["blocks"])
    assert "No healthcheck round has been launched yet." in none_yet
    round_id, _ = await hc.launch()
    missing = texts((await hc.command("healthcheck status 999", OFFICER))["blocks"])
    assert "There is no round #999." in missing and f"#{round_id} Partnership" in missing
    typo = texts((await hc.command("healthcheck stauts", OFFICER))["blocks"])
    assert "Did you mean `/slis healthcheck status`?" in typo


async def test_a_start_slack_will_not_open_in_time_says_to_try_again(
    hc: HealthcheckWorld,
) -> None:
    round_id = await hc.open_round()
    hc.fake.fail("views.open", error="expired_trigger_id")
    answer = await hc.press_start(HEAD, hc.invitation(round_id, HEAD))
    assert isinstance(answer, dict)
    assert answer["text"] == "That took too long for Slack to open the form: please try again."
    assert answer["replace_original"] is False
    shown = await hc.start(HEAD, round_id=round_id)  # the next press works
    assert "Page 1 of 4" in shown.text
