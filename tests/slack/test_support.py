"""Support brokerage end to end in Slack: issue 5's acceptance, driven by signed requests.

A head asks through the real modal; the offers, the twenty-click claim race, the lifecycle to an
impact rating, refusals, the escalation across half term, and what another school's head can't
see. See tests.slack.support_world for the directory, the dates and how time and the outbox move.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select

from bot.replies.support import LABELS
from storage.engine import Database
from storage.models import Partnership, aware
from storage.outbox_tables import OutboxMessage
from tests.fakes.slack_api import FakeSlackApi, Posted
from tests.slack.directory import CHAIR, HEAD, row_counts
from tests.slack.harness import all_text
from tests.slack.healthcheck_world import buttons
from tests.slack.support_world import (
    BLACKWATER_LEAD,
    CATEGORY,
    CATEGORY_LABEL,
    COLNE_ESTUARY,
    COUNTY_OFFICER,
    ELIGIBLE,
    HARLOW_HEAD,
    LEAD_NAMES,
    LEADS,
    LEADS_OF,
    NE_OFFICER,
    NEEDED,
    NOT_OFFERED,
    OAKLEY_LEAD,
    OAKWOOD_HEAD,
    SCHOOL_NAME,
    STOUR_VALLEY,
    TENDRING_LEAD,
    WEST_LEAD,
    WHY_NOW,
    Delivery,
    Pressed,
    SupportWorld,
    action_body,
    button_ids,
    dm,
    support_world,
    words,
)

JSON = dict[str, Any]
REF = "SR-2026-0001"
# Everyone with a Slack account in the world.
EVERYONE = (
    HEAD,
    CHAIR,
    NE_OFFICER,
    COUNTY_OFFICER,
    OAKWOOD_HEAD,
    HARLOW_HEAD,
    *LEADS,
    *NOT_OFFERED.values(),
)
# What would give the request away to someone who may not see it.
SECRETS = (
    SCHOOL_NAME,
    "Great Oakley",
    CATEGORY_LABEL,
    "pupil premium",
    "Alice Hart",
    NEEDED[:30],
    WHY_NOW[:30],
    *ELIGIBLE,
)


def expect(
    delivery: Delivery,
    *,
    cards: Iterable[str] = (),
    notes: Iterable[str] = (),
    updated: Iterable[str] = (),
) -> None:
    """The relay pass posted exactly these cards and notes and edited exactly these people's
    cards, each once; nobody else got anything."""
    wanted: dict[str, list[str]] = {}
    for kind, users in (("card", cards), ("note", notes)):
        for user in users:
            wanted.setdefault(dm(user), []).append(kind)
    assert {c: sorted(k) for c, k in delivery.by_channel().items()} == {
        c: sorted(k) for c, k in wanted.items()
    }
    assert delivery.updated_channels() == Counter(dm(u) for u in updated)


def threaded(world: SupportWorld, user: str, request_id: int, notes: int) -> list[Posted]:
    """`user`'s notes about the request, checked to be `notes` replies in their card's thread."""
    card = world.card(user, request_id)
    found = world.notes(user, request_id)
    assert len(found) == notes, [n.text for n in found]
    assert all(n.thread_ts == card.ts for n in found)
    return found


def everyone_once(fake: FakeSlackApi) -> None:
    """No outbox message arrived twice."""
    keys = fake.posted_keys()
    assert keys and set(keys.values()) == {1}, keys


def got_nothing(world: SupportWorld, users: Iterable[str]) -> None:
    """Nothing from the outbox reached these people (answers to their own clicks aside)."""
    for user in users:
        assert [m.key for m in world.fake.posted(dm(user)) if m.key] == [], user
        assert world.fake.updated(dm(user)) == [], user


def refused(pressed: Pressed, *names: str) -> str:
    """The click was answered with an error shown only to the presser, beside the card (or in
    their DM, from the App Home), and opened nothing; its text."""
    assert pressed.status == 200
    assert pressed.opened is None
    answer = pressed.answer
    if pressed.said:
        assert answer["replace_original"] is False
        assert answer["response_type"] == "ephemeral"
    for name in names:
        assert name in pressed.text, pressed.text
    return pressed.text


def no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret.lower() not in text.lower(), (secret, text)


def state_of(world: SupportWorld, request_id: int) -> tuple[str, int, int, dict[str, str]]:
    row = world.request(request_id)
    return row.state, row.version, len(world.events(request_id)), world.offers(request_id)


def counts(world: SupportWorld) -> dict[str, int]:
    """Row counts but the inbound ledger's (each signed request is recorded there)."""
    found = row_counts(world.db)
    found.pop("seen_request")
    return found


async def asked(world: SupportWorld) -> int:
    """The usual request, asked and its cards delivered."""
    request_id, _ = await world.ask()
    await world.deliver()
    return request_id


# --- asking --------------------------------------------------------------------------------------


async def test_a_head_asks_through_the_form_and_exactly_the_eligible_leads_get_an_offer(
    database_url: str, db: Database, fake_slack: FakeSlackApi
) -> None:
    async with support_world(database_url, db, fake_slack) as world:
        ack = await world.slash(HEAD, "support")
        assert ack == {}
        form = world.modals[HEAD].view
        assert form["callback_id"] == "slis.support.ask"
        assert [b["block_id"] for b in form["blocks"] if b["type"] == "input"] == [
            "category", "needed", "why_now", "urgency", "window_from", "window_to", "days",
            "consent",
        ]  # fmt: skip

        request_id, result = await world.ask()
        confirmation = all_text(result["view"])
        assert f"Your request *{REF}* (Pupil premium review) for {SCHOOL_NAME} is in." in (
            confirmation
        )
        assert all(name in confirmation for name in ELIGIBLE)
        assert fake_slack.calls_to("chat.postMessage") == [], "nothing before the relay runs"

        expect(await world.deliver(), cards=(HEAD, *LEADS))
        everyone_once(fake_slack)
        assert world.offers(request_id) == dict.fromkeys(ELIGIBLE, "offered")
        got_nothing(world, [u for u in EVERYONE if u not in (HEAD, *LEADS)])

        mine = world.card(HEAD, request_id)
        assert f"Your request *{REF}* is in and has gone to 3 alliances" in words(mine)
        assert button_ids(mine) == ["withdraw"]
        for alliance, leads in LEADS_OF.items():
            for lead in leads:
                card = world.card(lead, request_id)
                assert f"Can *{alliance}* help?" in words(card)
                assert NEEDED in words(card)  # the school agreed to share its words
                assert button_ids(card) == ["claim", "decline", "question"]
        # A second pass has nothing more to send.
        expect(await world.deliver())


async def test_support_with_words_opens_the_form_filled_in(
    database_url: str, db: Database, fake_slack: FakeSlackApi
) -> None:
    async with support_world(database_url, db, fake_slack) as world:
        assert await world.slash(HEAD, "support a review of our pupil premium strategy") == {}
        blocks = {b["block_id"]: b for b in world.modals[HEAD].view["blocks"] if "block_id" in b}
        assert blocks["category"]["element"]["initial_option"]["value"] == CATEGORY
        assert blocks["needed"]["element"]["initial_value"] == (
            "a review of our pupil premium strategy"
        )


# --- the claim race ------------------------------------------------------------------------------


async def test_twenty_concurrent_claims_one_wins_and_everyone_else_is_told_who(
    database_url: str, db: Database, fake_slack: FakeSlackApi
) -> None:
    async with support_world(database_url, db, fake_slack) as world:
        request_id = await asked(world)
        version = world.request(request_id).version
        hooks: dict[str, str] = {}
        bodies: list[str] = []
        for lead in LEADS:
            card = world.card(lead, request_id)
            [claim] = [b for b in buttons(card.blocks or []) if b["action_id"].endswith(".claim")]
            hooks[lead] = world.hook("claim")
            bodies.append(
                action_body(
                    lead, claim["action_id"], claim["value"], message=card, response_url=hooks[lead]
                )
            )

        responses = await world.concurrently(bodies)
        assert [r.status_code for r in responses] == [200] * len(LEADS)

        row = world.request(request_id)
        claims = [e for e in world.events(request_id) if e.action == "claim"]
        assert len(claims) == 1 and row.state == "claimed" and row.version == version + 1
        winner = world.user_of(claims[0].actor_person_id or 0)
        assert row.claimed_by_person_id == world.person(winner)
        alliance = next(a for a, leads in LEADS_OF.items() if winner in leads)
        holder = f"{alliance} ({LEAD_NAMES[LEADS.index(winner)]})"
        assert world.offers(request_id) == {
            a: "claimed" if a == alliance else "lapsed" for a in ELIGIBLE
        }

        said = {lead: answers_to(fake_slack, hooks[lead]) for lead in LEADS}
        [won] = said.pop(winner)
        assert won["replace_original"] is True
        assert f"You have claimed {REF} for *{alliance}*" in words(won)
        for lead, answers in said.items():
            [told] = answers
            assert told["replace_original"] is False and told["response_type"] == "ephemeral"
            assert f"{REF} has already been claimed by *{holder}*" in words(told), lead

        expect(await world.deliver(), notes=[HEAD], updated=(HEAD, *LEADS))
        everyone_once(fake_slack)
        for lead in LEADS:
            [update] = fake_slack.updated(dm(lead))
            assert f"held by {holder}" in words(update.blocks), lead
            card = world.card(lead, request_id)
            ours = lead in LEADS_OF[alliance]
            assert button_ids(card) == (["question", "propose"] if ours else []), lead
        [note] = threaded(world, HEAD, request_id, 1)
        assert f"{holder} has claimed your request" in words(note)


def answers_to(fake: FakeSlackApi, hook: str) -> list[JSON]:
    """What was posted to one response URL (told apart by its `hook` query)."""
    wanted = hook.rpartition("hook=")[2]
    return [dict(c.params) for c in fake.calls_to("response_url") if c.params.get("hook") == wanted]


# --- the lifecycle -------------------------------------------------------------------------------


async def test_the_whole_lifecycle_through_buttons_and_modals_tells_each_person_once(
    database_url: str, db: Database, fake_slack: FakeSlackApi
) -> None:
    async with support_world(database_url, db, fake_slack) as world:
        request_id = await asked(world)
        lead = LEADS[0]  # Ada Brook, of Colne Estuary
        cards = (HEAD, *LEADS)
        quiet = [u for u in EVERYONE if u not in cards]

        claimed = await world.press(lead, world.card(lead, request_id), "claim")
        assert "You have claimed" in claimed.text and claimed.answer["replace_original"] is True
        expect(await world.deliver(), notes=[HEAD], updated=cards)
        # From here on only the school and the claiming alliance's leads follow it: the other
        # alliances were shown once who claimed it, and never see its terms.
        cards = (HEAD, *next(ls for ls in LEADS_OF.values() if lead in ls))

        await propose(world, lead, request_id, "2.5", "2026-11-03", "2026-11-05")
        expect(await world.deliver(), notes=[HEAD], updated=cards)
        [_, proposed] = threaded(world, HEAD, request_id, 2)
        assert "2.5 days, Tue 3 Nov 2026 to Thu 5 Nov 2026, £1,125.00" in words(proposed)
        assert button_ids(world.card(HEAD, request_id)) == ["accept", "ask_changes", "withdraw"]

        changes = await world.press(HEAD, world.card(HEAD, request_id), "ask_changes")
        assert changes.opened is not None
        done = await world.submit_modal(
            HEAD, {"text": "Could it be after our Christmas fair, in the first week of December?"}
        )
        assert "Your request for changes has gone to" in all_text(done["view"])
        expect(await world.deliver(), notes=[lead], updated=cards)
        [asked_again] = threaded(world, lead, request_id, 1)
        assert "Christmas fair" in words(asked_again)

        await propose(world, lead, request_id, "2.5", "2026-12-01", "2026-12-03")
        expect(await world.deliver(), notes=[HEAD], updated=cards)

        accepted = await world.press(HEAD, world.card(HEAD, request_id), "accept")
        assert f"You have accepted the proposal: {REF} is agreed." in accepted.text
        expect(await world.deliver(), notes=[lead], updated=cards)

        world.at(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
        started = await world.press(lead, world.card(lead, request_id), "start")
        assert f"The delivery of {REF} has started." in started.text
        expect(await world.deliver(), notes=[HEAD], updated=cards)

        world.at(datetime(2026, 12, 3, 15, 0, tzinfo=UTC))
        delivered = await world.press(lead, world.card(lead, request_id), "deliver")
        assert f"{REF} is marked delivered" in delivered.text
        expect(await world.deliver(), notes=[HEAD], updated=cards)
        assert button_ids(world.card(HEAD, request_id)) == ["close"]

        world.at(datetime(2026, 12, 4, 10, 0, tzinfo=UTC))
        closing = await world.press(HEAD, world.card(HEAD, request_id), "close")
        assert closing.opened is not None
        evidence = "Disadvantaged pupils' reading ages rose by six months over the term."
        done = await world.submit_modal(HEAD, {"rating": "4", "evidence": evidence})
        assert f"{REF} is closed with an impact rating of 4/5" in all_text(done["view"])
        expect(await world.deliver(), notes=[lead], updated=cards)

        row = world.request(request_id)
        assert (row.state, row.impact_rating, row.impact_evidence) == ("closed", 4, evidence)
        assert float(row.proposal_days or 0) == 2.5 and row.proposal_cost_pence == 112500
        assert [e.action for e in world.events(request_id)] == [
            "submit", "offer", "claim", "propose", "ask_changes", "propose", "accept", "start",
            "deliver", "close",
        ]  # fmt: skip
        everyone_once(fake_slack)
        notes_of_head = threaded(world, HEAD, request_id, 5)
        assert "has started the delivery" in words(notes_of_head[3])
        [_, accepted_note, closed_note] = threaded(world, lead, request_id, 3)
        assert "has accepted your proposal" in words(accepted_note)
        assert f"rated its impact 4/5: {evidence}" in words(closed_note)
        for other in LEADS[1:]:
            assert world.notes(other, request_id) == []
            card = words(world.card(other, request_id))
            if other in cards:  # a co-lead of the holding alliance follows every step
                assert len(fake_slack.updated(dm(other))) == 8 and "Closed" in card
            else:  # told once who claimed it; never shown the terms or the rating
                assert len(fake_slack.updated(dm(other))) == 1 and "held by" in card
                assert "£" not in card and "Impact" not in card
        final = world.card(HEAD, request_id)
        assert button_ids(final) == [] and "*Impact:* 4/5" in words(final)
        got_nothing(world, quiet)


async def propose(
    world: SupportWorld, lead: str, request_id: int, days: str, starts: str, ends: str
) -> None:
    """The lead presses Propose on their card and sends the modal."""
    pressed = await world.press(lead, world.card(lead, request_id), "propose")
    assert pressed.opened is not None, pressed.said
    assert pressed.opened.view["callback_id"] == "slis.support.act"
    done = await world.submit_modal(lead, {"days": days, "starts_on": starts, "ends_on": ends})
    assert f"Your proposal for {REF} has gone to {SCHOOL_NAME}" in all_text(done["view"])


# --- refusals ------------------------------------------------------------------------------------


async def test_an_illegal_transition_is_refused_naming_the_state_and_changes_nothing(
    database_url: str, db: Database, fake_slack: FakeSlackApi
) -> None:
    async with support_world(database_url, db, fake_slack) as world:
        request_id = await asked(world)
        before, rows = state_of(world, request_id), counts(world)
        value = str(request_id)

        refused(await world.click(HEAD, "close", value), f"{REF} is *offered*")
        refused(await world.click(HEAD, "accept", value), f"{REF} is *offered*", "not agreed")
        refused(await world.click(LEADS[0], "deliver", value), f"{REF} is *offered*")
        refused(await world.click(LEADS[0], "start", value), f"{REF} is *offered*")
        # A lead whose alliance was not offered it, claiming with a forged button.
        for lead in NOT_OFFERED.values():
            no_secrets(refused(await world.click(lead, "claim", value), "can't find"))
        # A close form kept open from before, sent anyway.
        ack = await world.act_submission(HEAD, f"{request_id}:close")
        assert f"{REF} is *offered*" in all_text(ack["view"])

        assert state_of(world, request_id) == before
        assert counts(world) == rows
        expect(await world.deliver())


async def test_a_head_of_another_school_can_neither_see_nor_act_on_the_request(
    database_url: str, db: Database, fake_slack: FakeSlackApi
) -> None:
    async with support_world(database_url, db, fake_slack) as world:
        request_id = await asked(world)
        question = await world.press(LEADS[0], world.card(LEADS[0], request_id), "question")
        assert question.opened is not None
        await world.submit_modal(LEADS[0], {"text": "Which year groups does it cover?"})
        await world.deliver()
        [asked_event] = [e for e in world.events(request_id) if e.action == "question"]
        before, rows = state_of(world, request_id), counts(world)
        opened = len(fake_slack.calls_to("views.open"))

        for outsider in (OAKWOOD_HEAD, HARLOW_HEAD):
            for text in (
                f"support show {REF}",
                f"support show {REF.lower()}",
                f"support show {request_id}",
                "support list",
                "support list mine",
                "support list open",
                "support list quadrant",
                "support list all",
                "support stats",
                "support stats North East",
                "support ledger",
                "support ledger North East",
            ):
                ack = await world.slash(outsider, text)
                no_secrets(words(ack))
                assert REF not in words(ack) or "can't find" in words(ack), (text, ack)
            for action in LABELS:
                value = f"{request_id}:{asked_event.id}" if action == "reply" else str(request_id)
                # Refused by the role gate (the table's words) or, past it, not found.
                text = refused(await world.click(outsider, action, value))
                assert "can't find" in text or text.startswith("Only "), text
                no_secrets(text)
                no_secrets(refused(await world.click(outsider, action, value, home=True)))
                meta = f"{request_id}:{action}" + (
                    f":{asked_event.id}" if action == "reply" else ""
                )
                ack = await world.act_submission(outsider, meta)
                no_secrets(all_text(ack["view"]))
                assert "can't find" in all_text(ack["view"]), (action, ack)

        assert len(fake_slack.calls_to("views.open")) == opened
        # The same words do give it away to those who may see it: the checks above can fail.
        for insider, text in ((HEAD, f"support show {REF}"), (CHAIR, "support list quadrant")):
            shown = words(await world.slash(insider, text))
            assert SCHOOL_NAME in shown and CATEGORY_LABEL in shown, (insider, shown)
        assert state_of(world, request_id) == before
        assert counts(world) == rows
        assert fake_slack.uploaded_files() == []
        expect(await world.deliver())
        got_nothing(world, [OAKWOOD_HEAD, HARLOW_HEAD])


# --- nobody left waiting -------------------------------------------------------------------------


async def test_an_unclaimed_request_escalates_after_three_school_days_across_half_term(
    database_url: str, db: Database, fake_slack: FakeSlackApi
) -> None:
    async with support_world(database_url, db, fake_slack) as world:
        request_id = await asked(world)
        # Thu 22 Oct at 11:00 BST, then Fri 23 Oct, (half term), Mon 2 and Tue 3 Nov at 11:00 GMT.
        due = datetime(2026, 11, 3, 11, 0, tzinfo=UTC)
        escalate_at = world.request(request_id).escalate_at
        assert escalate_at is not None and aware(escalate_at) == due
        for when in (
            datetime(2026, 10, 23, 16, 0, tzinfo=UTC),
            datetime(2026, 10, 30, 12, 0, tzinfo=UTC),  # in half term
            datetime(2026, 11, 2, 23, 59, tzinfo=UTC),
            datetime(2026, 11, 3, 10, 59, 59, tzinfo=UTC),
        ):
            world.at(when)
            assert (await world.sweep()).escalated == 0, when
            assert world.request(request_id).state == "offered"
            expect(await world.deliver())

        world.at(due)
        assert (await world.sweep()).escalated == 1
        assert world.request(request_id).state == "escalated"
        expect(
            await world.deliver(),
            cards=(CHAIR, NE_OFFICER),
            notes=[HEAD],
            updated=(HEAD, *LEADS),
        )
        assert (await world.sweep()).escalated == 0
        for chair in (CHAIR, NE_OFFICER):
            card = world.card(chair, request_id)
            assert "nobody has claimed it after 3 school days" in words(card)
            assert "assign" in button_ids(card)
        [note] = threaded(world, HEAD, request_id, 1)
        assert "has gone to your quadrant chair and the LA" in words(note)

        assigning = await world.press(CHAIR, world.card(CHAIR, request_id), "assign")
        assert assigning.opened is not None
        stour = world.directory.alliances[STOUR_VALLEY]
        done = await world.submit_modal(
            CHAIR, {"alliance": str(stour), "note": "You did our last review: please help."}
        )
        assert f"{REF} is assigned to *{STOUR_VALLEY}*" in all_text(done["view"])
        row = world.request(request_id)
        assert (row.state, row.claimed_by_alliance_id) == ("claimed", stour)
        stour_leads = LEADS_OF[STOUR_VALLEY]
        assert row.claimed_by_person_id == world.person(stour_leads[0])

        expect(
            await world.deliver(),
            notes=(HEAD, *stour_leads),
            updated=(HEAD, CHAIR, NE_OFFICER, *LEADS),
        )
        everyone_once(fake_slack)
        [_, assigned] = threaded(world, HEAD, request_id, 2)
        assert f"has asked *{STOUR_VALLEY}* to take your request" in words(assigned)
        for lead in stour_leads:
            assert "Propose days and cost" in words(world.card(lead, request_id))
        for lead in LEADS_OF[COLNE_ESTUARY]:
            assert button_ids(world.card(lead, request_id)) == []
        got_nothing(world, (COUNTY_OFFICER, WEST_LEAD, TENDRING_LEAD, BLACKWATER_LEAD, OAKLEY_LEAD))


# --- the App Home --------------------------------------------------------------------------------


async def test_a_button_pressed_in_the_app_home_answers_in_the_dm(
    database_url: str, db: Database, fake_slack: FakeSlackApi
) -> None:
    async with support_world(database_url, db, fake_slack) as world:
        request_id = await asked(world)
        lead = LEADS[0]

        pressed = await world.click(lead, "propose", str(request_id), home=True)
        refused(pressed, f"{REF} is *offered*")
        assert pressed.said == [] and pressed.dm[0].params["channel"] == lead

        claimed = await world.click(lead, "claim", str(request_id), home=True)
        assert claimed.said == [] and claimed.opened is None
        assert f"You have claimed {REF}" in claimed.text
        asking = await world.click(lead, "propose", str(request_id), home=True)
        assert asking.opened is not None and asking.dm == []
        assert world.request(request_id).state == "claimed"
        assert [e.action for e in world.events(request_id)][-1] == "claim"


async def test_offer_support_from_a_report_is_said_beside_it_and_reaches_the_lead(
    database_url: str, db: Database, fake_slack: FakeSlackApi
) -> None:
    """The chair's "Offer support" under a report answers beside the report (never replacing
    it); the partnership's lead is sent the suggestion with an "Ask for support" button."""
    async with support_world(database_url, db, fake_slack) as world:
        with db.session() as s:
            colne_valley = s.exec(
                select(Partnership.id).where(Partnership.name == "Colne Valley Partnership")
            ).one()
        reason = "Trust: the mean fell from 2.75 to 1.75 since round #1"
        pressed = await world.click(CHAIR, f"suggest:{colne_valley}", f"{colne_valley}|{reason}")
        assert pressed.answer["replace_original"] is False
        assert "Support offered to Colne Valley Partnership" in pressed.text
        with db.session() as s:
            [row] = s.exec(
                select(OutboxMessage).where(col(OutboxMessage.key).startswith("support:suggest:"))
            ).all()
        assert reason in json.dumps(row.payload) and "slis.support.ask" in json.dumps(row.payload)
        # The head, had she been sent it, opens the request form filled in with what was seen.
        asking = await world.click(HEAD, "ask", reason)
        assert asking.opened is not None
        assert "Following our healthcheck" in json.dumps(asking.opened.view)
