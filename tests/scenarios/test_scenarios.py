"""Issue 7's acceptance, written once: the end-to-end scenarios run on every chat platform in
tests.scenarios.conftest.PLATFORMS, each through that platform's real requests and fakes.

Only what a person sees (text, button labels, forms by field id) and what is stored are
asserted: never a platform's shapes. A platform may show a command's answer in the
conversation or beside it, so messages are found by what they say or offer, or by being new
since a step, never by their position in an inbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tests.scenarios.chat import Answers, Chat, Message, last
from tests.scenarios.world import (
    ALLIANCE_NAME,
    LEAD_NAME,
    PARTNERSHIP_LEAD_NAME,
    PARTNERSHIP_NAME,
    SCHOOL_NAME,
    World,
)

CONDITIONS = (
    "vision",
    "trust",
    "engagement",
    "system_leadership",
    "la_role",
    "support_capacity",
    "regional_links",
    "financial_contributions",
    "partnership_structures",
)
# The diamond 9: each condition's tier, 1 (greatest strength) to 5 (most improvement needed).
DIAMOND = {
    "vision": 1,
    "trust": 2,
    "engagement": 2,
    "system_leadership": 3,
    "la_role": 3,
    "support_capacity": 3,
    "regional_links": 4,
    "financial_contributions": 4,
    "partnership_structures": 5,
}
TRUST_COMMENT = "Trust has grown since the autumn conference."
HEALTHCHECK: Answers = {
    **dict.fromkeys(CONDITIONS, "3"),
    "vision": "4",
    "trust": "2",
    "trust-comment": TRUST_COMMENT,
    "diamond_nine": DIAMOND,
}
OPENS_AT = datetime(2026, 11, 11, 9, 0, tzinfo=UTC)  # Wed, the next school day at 09:00

REF = "SR-2026-0001"
NEEDED = "A fresh look at how we spend our pupil premium on reading catch-up in Years 3 and 4."
SUPPORT: Answers = {
    "category": "pupil_premium_review",
    "needed": NEEDED,
    "why_now": "Our disadvantaged pupils' reading fell behind after the new phonics scheme.",
    "urgency": "high",
    "window_from": "2026-11-16",
    "window_to": "2026-12-11",
    "days": "2",
    "consent": "yes",
}

MEETING_TITLE = "North East: spring term priorities"
MEETING: Answers = {
    "title": MEETING_TITLE,
    "purpose": "Locality improvement needs for the spring term.",
    "mode": "online",
    "slot_1_date": "2026-11-24",
    "slot_1_time": "16:00",
    "slot_2_date": "2026-11-25",
    "slot_2_time": "16:00",
    "slot_3_date": "2026-11-26",
    "slot_3_time": "09:00",
    "deadline_date": "2026-11-20",
    "deadline_time": "12:00",
}

FIRST_TIME = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # GMT: London time is UTC

REMINDER = "send the attendance return"


def showing(messages: Sequence[Message], *words: str) -> Message:
    """The latest of `messages` that says all of `words`."""
    found = [m for m in messages if all(w in m.text for w in words)]
    assert found, f"nothing says {words}; shown: {[m.text for m in messages]}"
    return found[-1]


def new(before: Sequence[Message], now: Sequence[Message]) -> list[Message]:
    """The messages of `now` that were not among `before` (edits of old ones are not new)."""
    seen = {(m.conversation, m.id) for m in before}
    return [m for m in now if (m.conversation, m.id) not in seen]


async def join(chat: Chat, *people: int) -> None:
    for person in people:
        await chat.join(person)


# --- 1. a healthcheck answered --------------------------------------------------------------


async def test_a_head_answers_the_healthcheck_an_officer_launched(world: World, chat: Chat) -> None:
    await join(chat, world.officer, world.head)
    launch = last(await chat.say(world.officer, "healthcheck launch"))
    assert launch.form is not None and launch.form.callback_id == "slis.healthcheck.launch"
    launched = last(
        await chat.fill(
            world.officer,
            launch,
            {
                "template": "partnership_healthcheck",
                "audience": "head",
                "scope": f"quadrant:{world.north_east}",
                "privacy": "named",
            },
        )
    )
    assert launched.form is None, launched.form
    assert "Healthcheck round launched" in launched.text
    assert "Partnership healthcheck (named)" in launched.text
    assert "Wed 11 Nov 09:00" in launched.text

    await chat.deliver()
    assert not [m for m in chat.inbox(world.head) if "Press Start" in m.text], "not open yet"
    world.at(OPENS_AT)
    await world.tick()
    await chat.deliver()
    prompt = showing(chat.inbox(world.head), "Partnership healthcheck", PARTNERSHIP_NAME)
    assert "Press Start to answer" in prompt.text

    page = last(await chat.press(world.head, prompt, "Start"))
    pages: list[tuple[str, ...]] = []
    while page.form is not None:
        assert page.form.callback_id == "slis.healthcheck.answer", page.form
        assert page.form.page == len(pages) and not page.form.errors, page.form
        pages.append(page.form.field_ids)
        page = last(await chat.fill(world.head, page, HEALTHCHECK))
    assert len(pages) == 4
    assert pages[0] == tuple(f"{c}{s}" for c in CONDITIONS[:3] for s in ("", "-comment"))
    assert pages[3] == ("diamond_nine",)
    assert "Thank you: your answers are in" in page.text
    assert f"Partnership healthcheck for {PARTNERSHIP_NAME}" in page.text

    [(response, stored)] = world.responses()
    assert response.respondent_person_id == world.head and response.submitted_at is not None
    assert stored["vision"] == (4, None)
    assert stored["trust"] == (2, TRUST_COMMENT)
    assert all(stored[c] == (3, None) for c in CONDITIONS[2:])
    tiers = stored["diamond_nine"][0]
    assert tiers == [[c for c in CONDITIONS if DIAMOND[c] == tier] for tier in range(1, 6)], tiers


# --- 2. support asked for and claimed -------------------------------------------------------


async def test_a_head_asks_for_support_and_an_alliance_lead_claims_it(
    world: World, chat: Chat
) -> None:
    await join(chat, world.head, world.lead)
    form = last(await chat.say(world.head, "support"))
    assert form.form is not None and form.form.callback_id == "slis.support.ask"
    backwards = {**SUPPORT, "window_from": "2026-12-11", "window_to": "2026-11-16"}
    again = last(await chat.fill(world.head, form, backwards))
    assert again.form is not None and again.form.callback_id == "slis.support.ask"
    assert again.form.errors == {"window_to": "The window ends before it starts."}
    assert world.support_requests() == []
    asked = last(await chat.fill(world.head, again, SUPPORT))
    assert asked.form is None, asked.form
    assert f"Your request {REF} (Pupil premium review) for {SCHOOL_NAME} is in." in asked.text
    assert ALLIANCE_NAME in asked.text

    await chat.deliver()
    offer = showing(chat.inbox(world.lead), f"Can {ALLIANCE_NAME} help?")
    assert NEEDED in offer.text
    assert [b.label for b in offer.buttons] == ["Claim", "Decline", "Ask a question"]

    head_before = chat.inbox(world.head)
    claimed = last(await chat.press(world.lead, offer, "Claim"))
    assert (claimed.conversation, claimed.id) == (offer.conversation, offer.id), "redrawn in place"
    assert f"You have claimed {REF} for {ALLIANCE_NAME}" in claimed.text
    assert "Claim" not in [b.label for b in claimed.buttons]
    [request] = world.support_requests()
    assert (request.reference, request.state) == (REF, "claimed")
    assert request.claimed_by_person_id == world.lead
    assert request.claimed_by_alliance_id == world.alliance
    shown = next(m for m in chat.inbox(world.lead) if m.id == offer.id)
    assert f"You have claimed {REF}" in shown.text, "the card in the conversation is redrawn"

    await chat.deliver()
    card = next(m for m in chat.inbox(world.lead) if m.id == offer.id)
    assert f"held by {ALLIANCE_NAME} ({LEAD_NAME})" in card.text
    assert "Claim" not in [b.label for b in card.buttons]
    told = showing(new(head_before, chat.inbox(world.head)), "has claimed your request")
    assert f"{ALLIANCE_NAME} ({LEAD_NAME}) has claimed your request" in told.text


# --- 3. a meeting poll and a vote -----------------------------------------------------------


async def test_the_chair_proposes_a_meeting_and_an_invitees_vote_is_counted(
    world: World, chat: Chat
) -> None:
    await join(chat, world.chair, world.lead, world.partnership_lead)
    times = last(await chat.say(world.chair, "meeting new"))
    assert times.form is not None and times.form.callback_id == "slis.meeting.new"
    who = last(await chat.fill(world.chair, times, MEETING))
    assert who.form is not None and who.form.page == 1, who.text
    assert "invitees" in who.form.field_ids
    assert LEAD_NAME in who.text and PARTNERSHIP_LEAD_NAME in who.text
    sent = last(await chat.fill(world.chair, who, {}))
    assert sent.form is None, sent.form
    [meeting] = world.meetings()
    assert meeting.reference in sent.text and meeting.id is not None

    await chat.deliver()
    polls = {
        person: showing(chat.inbox(person), MEETING_TITLE, "When can you come?")
        for person in (world.lead, world.partnership_lead)
    }
    for poll in polls.values():
        assert [b.label for b in poll.buttons] == ["Yes", "If need be", "No"] * 3

    poll = polls[world.partnership_lead]
    yes = poll.button("Yes")  # the first time's
    [redrawn] = await chat.press(world.partnership_lead, poll, "Yes")
    assert (redrawn.conversation, redrawn.id) == (poll.conversation, poll.id), "redrawn in place"
    chosen = [b for b in redrawn.buttons if b.label.startswith("✓")]
    assert [(b.label, b.value) for b in chosen] == [("✓ Yes", yes.value)]
    assert world.votes(meeting.id) == {(FIRST_TIME, world.partnership_lead): "yes"}
    shown = next(m for m in chat.inbox(world.partnership_lead) if m.id == poll.id)
    assert [b.label for b in shown.buttons] == [b.label for b in redrawn.buttons]

    tally = last(await chat.say(world.chair, f"meeting tally {meeting.reference}"))
    assert "Yes 1 · If need be 0 · No 0 · not voted 1" in tally.text
    assert tally.text.count("Yes 0 · If need be 0 · No 0 · not voted 2") == 2


# --- 4. a reminder ----------------------------------------------------------------------------


async def test_a_head_is_reminded_at_the_time_she_asked(world: World, chat: Chat) -> None:
    await join(chat, world.head)
    said = last(await chat.say(world.head, f"remind me today at 15:00 {REMINDER}"))
    assert "I'll remind you" in said.text and "15:00" in said.text and REMINDER in said.text
    [reminder] = world.reminders()
    assert (reminder.created_by, reminder.target_person_id) == (world.head, world.head)
    assert (reminder.text, reminder.status) == (REMINDER, "active")

    before = chat.inbox(world.head)
    await world.tick()
    await chat.deliver()
    assert new(before, chat.inbox(world.head)) == [], "nothing before it is due"

    world.at(datetime(2026, 11, 10, 15, 1, tzinfo=UTC))
    await world.tick()
    await chat.deliver()
    [reminded] = new(before, chat.inbox(world.head))
    assert REMINDER in reminded.text
    assert world.reminders()[0].status == "done"
