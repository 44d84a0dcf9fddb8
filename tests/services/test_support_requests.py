"""Support requests: asking, offers, the first claim winning, the lifecycle, who sees what, the
sweeps, and the forms — against a real database (SQLite, and PostgreSQL when asked).

The world is `support_world`: Ada, head of Harbour Primary (North East), asks; Estuary (leads
Eve and Eli) and Marshland (lead Mo) are the eligible alliances for an SEN review; Saltings,
Westward, Full House and Harbour Cove are not. Most tests stand on Thu 22 Oct 2026, 10:00 in
London, the day before the autumn half-term week (Mon 26 to Fri 30 Oct 2026).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlmodel import col, select

from bot.errors import Forbidden, NotFound, UserError
from bot.form_flow import Finished, PageErrors, ShowPage
from bot.reply_codec import reply_from_json
from bot.services.support.access import visible_clause
from bot.services.support.forms import ActionFlow, AskFlow
from bot.services.support.lifecycle import State
from bot.services.support.requests import FieldProblem, SupportService
from bot.types import Actions, Actor, Reply, Role, ScopeKind
from storage.models import RoleAssignment, maybe_aware
from storage.outbox_tables import OutboxMessage
from storage.support_tables import SupportEvent, SupportOffer, SupportRequest
from tests.services.support_world import (
    BOARD,
    CHAIR,
    COUNTY,
    ELIGIBLE,
    ESTUARY,
    ESTUARY_LEADS,
    FIELDGATE,
    FULL_HOUSE,
    FULL_HOUSE_LEAD,
    HARBOUR,
    HARBOUR_COVE,
    HARBOUR_COVE_LEAD,
    HEAD,
    INELIGIBLE_LEADS,
    LIGHTHOUSE,
    MARSHLAND,
    MARSHLAND_LEAD,
    NAMES,
    NO_SCHOOL,
    OFFICER,
    OTHER_HEAD,
    SALTINGS,
    SALTINGS_LEAD,
    STAFF,
    WEST_CHAIR,
    WEST_HEAD,
    WESTWARD,
    WESTWARD_LEAD,
    SupportWorld,
    build_support_world,
    local_time,
)

EVE, ELI = ESTUARY_LEADS
MO = MARSHLAND_LEAD
OFFER_LEADS = (EVE, ELI, MO)


@pytest.fixture
def w(db: Any) -> SupportWorld:
    return build_support_world(db)


# --- reading the outbox ---------------------------------------------------------------------


def card_key(request_id: int, person_id: int) -> str:
    return f"support:{request_id}:card:{person_id}"


def kind_of(row: OutboxMessage) -> str:
    """card (a new card), edit (of a card) or note (in a card's thread, or not)."""
    if ":note:" in row.key:
        return "note"
    if row.edits_key is not None:
        return "edit"
    return "card"


def by_kind(rows: list[OutboxMessage], kind: str) -> Counter[int]:
    """How many rows of `kind` each person got."""
    return Counter(r.person_id for r in rows if kind_of(r) == kind and r.person_id is not None)


def people(w: SupportWorld, *handles: str) -> Counter[int]:
    return Counter(w.person(h) for h in handles)


def text_of(row: OutboxMessage) -> str:
    return json.dumps(row.payload, ensure_ascii=False)


def last_id(w: SupportWorld) -> int:
    rows = w.outbox()
    return rows[-1].id or 0 if rows else 0


def since(w: SupportWorld, request_id: int, mark: int) -> list[OutboxMessage]:
    return [r for r in w.outbox(request_id) if (r.id or 0) > mark]


def events(w: SupportWorld, request_id: int) -> list[SupportEvent]:
    with w.db.session() as s:
        return list(
            s.exec(
                select(SupportEvent)
                .where(SupportEvent.request_id == request_id)
                .order_by(col(SupportEvent.id))
            ).all()
        )


def offers(w: SupportWorld, request_id: int) -> dict[int, str]:
    """Each offer's status, by alliance id."""
    with w.db.session() as s:
        rows = s.exec(select(SupportOffer).where(SupportOffer.request_id == request_id)).all()
        return {o.alliance_id: o.status for o in rows}


def snapshot(w: SupportWorld, request_id: int) -> tuple[int, str, int, int]:
    """What must not move when an action is refused: version, state, events, outbox rows."""
    r = w.request(request_id)
    return (r.version, r.state, len(events(w, request_id)), len(w.outbox(request_id)))


def check_edits(w: SupportWorld, rows: list[OutboxMessage], request_id: int) -> None:
    """Every card edit edits that person's card, and nobody's card is edited twice."""
    for r in rows:
        if kind_of(r) == "edit":
            assert r.person_id is not None
            assert r.edits_key == card_key(request_id, r.person_id)
            assert r.thread_key is None
    assert all(n == 1 for n in by_kind(rows, "edit").values())


def card_holders(w: SupportWorld, request_id: int) -> Counter[int]:
    return by_kind(w.outbox(request_id), "card")


# --- asking ---------------------------------------------------------------------------------


def test_submit_numbers_requests_per_tenant_and_offers_each_eligible_lead_one_card(
    w: SupportWorld,
) -> None:
    ada = w.actor(HEAD)
    first = w.service.submit(ada, w.ask())
    second = w.service.submit(ada, w.ask())
    suffolk = w.service.submit(w.actor(HEAD, w.suffolk), w.ask(place=w.suffolk))

    assert first.facts.reference == "SR-2026-0001"
    assert second.facts.reference == "SR-2026-0002"
    assert suffolk.facts.reference == "SR-2026-0001"  # Suffolk counts its own
    assert first.offered_to == (ESTUARY, MARSHLAND)  # equal on everything: by name
    assert first.escalated is None
    assert first.facts.state is State.OFFERED

    rid = first.facts.id
    rows = w.outbox(rid)
    # One card each: the requester's confirmation and one offer per lead of each eligible
    # alliance; nothing else (no chair, no ineligible lead), no edits or notes yet.
    assert by_kind(rows, "card") == people(w, HEAD, EVE, ELI, MO)
    assert len(rows) == 4
    for r in rows:
        assert r.key == card_key(rid, r.person_id or 0)
        assert r.edits_key is None and r.thread_key is None
    mine = next(r for r in rows if r.person_id == w.person(HEAD))
    assert "SR-2026-0001" in text_of(mine) and "2 alliances" in text_of(mine)
    offer = next(r for r in rows if r.person_id == w.person(MO))
    assert "Can *Marshland Alliance* help?" in text_of(offer)
    buttons = _buttons(offer)
    assert [b for b in buttons if b.endswith((".claim", ".decline", ".question"))] == [
        "slis.support.claim",
        "slis.support.decline",
        "slis.support.question",
    ]
    everyone = {r.person_id for r in w.outbox()}
    for lead in INELIGIBLE_LEADS:
        assert w.person(lead) not in everyone
    assert offers(w, rid) == {
        w.essex.alliances[ESTUARY]: "offered",
        w.essex.alliances[MARSHLAND]: "offered",
    }
    # Suffolk's offers went to Suffolk's leads only.
    suffolk_rows = w.outbox(suffolk.facts.id)
    assert by_kind(suffolk_rows, "card") == Counter(
        w.person(h, w.suffolk) for h in (HEAD, EVE, ELI, MO)
    )
    assert [e.action for e in events(w, rid)] == ["submit", "offer"]
    submit, offer_event = events(w, rid)
    assert (submit.from_state, submit.to_state) == ("draft", "submitted")
    assert (offer_event.from_state, offer_event.to_state) == ("submitted", "offered")
    assert offer_event.detail == {
        "alliances": [w.essex.alliances[ESTUARY], w.essex.alliances[MARSHLAND]]
    }


def test_staff_of_the_school_may_ask_and_others_may_not(w: SupportWorld) -> None:
    ravi = w.actor(STAFF)
    assert w.service.asking_schools(ravi) == [(w.essex.schools[HARBOUR], HARBOUR)]
    assert w.service.submit(ravi, w.ask()).facts.reference == "SR-2026-0001"

    with pytest.raises(Forbidden, match="Only headteachers and school staff may ask for support"):
        w.service.submit(w.actor(NO_SCHOOL), w.ask())
    with pytest.raises(Forbidden):
        w.service.submit(w.actor(EVE), w.ask())
    with pytest.raises(FieldProblem, match="only ask for your own school") as refused:
        w.service.submit(w.actor(HEAD), w.ask(school=LIGHTHOUSE))
    assert refused.value.field == "school"
    # Nothing was made by the refusals: no request, no number taken.
    assert w.service.submit(ravi, w.ask()).facts.reference == "SR-2026-0002"


def test_a_safeguarding_concern_goes_to_the_la_officers_only(w: SupportWorld) -> None:
    done = w.service.submit(w.actor(HEAD), w.ask("safeguarding_concern"))
    assert done.escalated is not None and "LA" in done.escalated
    assert done.offered_to == ()
    assert done.facts.state is State.ESCALATED
    rid = done.facts.id
    # The requester's confirmation, and the quadrant's LA officer: not the chair (a serving
    # head), not the county officer (the quadrant has its own), and no alliance.
    assert card_holders(w, rid) == people(w, HEAD, OFFICER)
    assert offers(w, rid) == {}
    assert [(e.action, e.from_state, e.to_state) for e in events(w, rid)] == [
        ("submit", "draft", "submitted"),
        ("escalate", "submitted", "escalated"),
    ]
    assert w.request(rid).route == "la"


def test_without_consent_it_goes_to_the_chair_and_the_la_officer(w: SupportWorld) -> None:
    done = w.service.submit(w.actor(HEAD), w.ask(consent=False))
    assert done.facts.state is State.ESCALATED
    assert done.escalated is not None and "not to be shared" in done.escalated
    assert card_holders(w, done.facts.id) == people(w, HEAD, CHAIR, OFFICER)
    assert offers(w, done.facts.id) == {}


def test_with_no_eligible_alliance_it_escalates(w: SupportWorld) -> None:
    # Phase expertise (early years): no alliance has the tag.
    done = w.service.submit(w.actor(HEAD), w.ask("phase_expertise"))
    assert done.facts.state is State.ESCALATED
    assert done.escalated is not None and "no alliance" in done.escalated
    assert card_holders(w, done.facts.id) == people(w, HEAD, CHAIR, OFFICER)
    assert w.request(done.facts.id).escalate_at is None


def test_form_problems_name_their_field(w: SupportWorld) -> None:
    ada = w.actor(HEAD)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"needed": "   "}, "needed"),
        ({"category_id": "no_such_thing"}, "category"),
        ({"urgency": "yesterday"}, "urgency"),
        ({"window_to": date(2026, 10, 1)}, "window_to"),
        ({"window_from": date(2026, 12, 1), "window_to": date(2026, 11, 1)}, "window_to"),
        ({"days_estimate": Decimal("0.3")}, "days"),
    ]
    base = w.ask()
    for change, field in cases:
        values = {**base.__dict__, **change}
        with pytest.raises(FieldProblem) as problem:
            w.service.submit(ada, type(base)(**values))
        assert problem.value.field == field, change
    assert w.outbox() == []


def test_concurrent_requests_get_distinct_numbers(w: SupportWorld) -> None:
    heads = [w.actor(HEAD), w.actor(STAFF)] * 5
    barrier = threading.Barrier(len(heads))
    refs: list[str] = []
    problems: list[BaseException] = []

    def ask(actor: Actor) -> None:
        barrier.wait()
        try:
            refs.append(w.service.submit(actor, w.ask()).facts.reference)
        except BaseException as exc:
            problems.append(exc)

    threads = [threading.Thread(target=ask, args=(a,)) for a in heads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert problems == []
    assert sorted(refs) == [f"SR-2026-{n:04d}" for n in range(1, 11)]


def test_a_west_request_escalates_to_its_chair_and_the_county_officer(w: SupportWorld) -> None:
    # West has no LA officer of its own: the county's stands in.
    rid = w.submit("phase_expertise", by=WEST_HEAD, school=FIELDGATE)
    assert card_holders(w, rid) == people(w, WEST_HEAD, WEST_CHAIR, COUNTY)
    assert "assign" in w.service.find(w.actor(WEST_CHAIR), rid).actions
    not_found_everywhere(w, w.actor(CHAIR), rid)
    not_found_everywhere(w, w.actor(OFFICER), rid)


# --- claiming -------------------------------------------------------------------------------


def test_the_first_claim_wins_and_every_card_shows_who_holds_it(w: SupportWorld) -> None:
    rid = w.submit()
    mark = last_id(w)
    acted = w.service.claim(w.actor(EVE), rid)
    assert acted.facts.state is State.CLAIMED
    assert acted.facts.holder == ESTUARY and acted.facts.holder_person == NAMES[EVE]
    assert "propose" in acted.actions and "claim" not in acted.actions

    rows = since(w, rid, mark)
    check_edits(w, rows, rid)
    # Every card is edited once to show the holder; the requester is told in her thread.
    assert by_kind(rows, "edit") == people(w, HEAD, EVE, ELI, MO)
    for r in rows:
        if kind_of(r) == "edit":
            assert "held by Estuary Alliance (Eve Estuary)" in text_of(r)
    assert by_kind(rows, "note") == people(w, HEAD)
    assert by_kind(rows, "card") == Counter()
    note = next(r for r in rows if kind_of(r) == "note")
    assert note.thread_key == card_key(rid, w.person(HEAD))
    assert "Estuary Alliance" in text_of(note)
    # Mo's card lost its buttons; Eli's (same alliance) now offers to propose.
    mo_edit = next(r for r in rows if r.person_id == w.person(MO) and kind_of(r) == "edit")
    assert _buttons(mo_edit) == []
    eli_edit = next(r for r in rows if r.person_id == w.person(ELI) and kind_of(r) == "edit")
    assert "slis.support.propose" in _buttons(eli_edit)

    assert offers(w, rid) == {
        w.essex.alliances[ESTUARY]: "claimed",
        w.essex.alliances[MARSHLAND]: "lapsed",
    }
    before = snapshot(w, rid)
    for loser in (MO, ELI):
        with pytest.raises(UserError, match=r"already been claimed by \*Estuary Alliance"):
            w.service.claim(w.actor(loser), rid)
    assert snapshot(w, rid) == before
    assert [e.action for e in events(w, rid)].count("claim") == 1


@pytest.mark.parametrize("leads_per_alliance", [1, 20])
def test_twenty_concurrent_claims_one_wins(w: SupportWorld, leads_per_alliance: int) -> None:
    """Twenty leads press Claim at once: from twenty alliances, or all from one."""
    handles = [f"lead{i:02d}" for i in range(20)]
    if leads_per_alliance == 1:
        for i, h in enumerate(handles):
            w.add_alliance(f"Alliance {i:02d}", leads=(h,), tags=("maths",))
    else:
        w.add_alliance("Crowded Alliance", leads=handles, tags=("maths",))
    rid = w.submit("subject_expertise")  # maths: only the new alliances have it
    assert len(offers(w, rid)) == 20 // leads_per_alliance
    actors = [w.actor(h) for h in handles]
    barrier = threading.Barrier(len(actors))
    outcomes: list[object] = [None] * len(actors)

    def press(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = w.service.claim(actors[i], rid)
        except Exception as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=press, args=(i,)) for i in range(len(actors))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)

    winners = [i for i, o in enumerate(outcomes) if not isinstance(o, Exception)]
    assert len(winners) == 1, outcomes
    holder = actors[winners[0]]
    request = w.request(rid)
    assert request.state == "claimed"
    assert request.claimed_by_person_id == holder.person_id
    for i, o in enumerate(outcomes):
        if i in winners:
            continue
        assert type(o) is UserError, o
        assert f"({holder.name})" in str(o), o
    claim_events = [e for e in events(w, rid) if e.action == "claim"]
    assert len(claim_events) == 1
    assert claim_events[0].actor_person_id == holder.person_id
    statuses = Counter(offers(w, rid).values())
    assert statuses["claimed"] == 1 and statuses["offered"] == 0
    rows = w.outbox(rid)
    check_edits(w, rows, rid)
    assert by_kind(rows, "note") == Counter({w.person(HEAD): 1})


# --- the whole lifecycle --------------------------------------------------------------------


def test_the_whole_lifecycle_with_each_notification_once(w: SupportWorld) -> None:
    rid = w.submit()
    ada, eve = w.actor(HEAD), w.actor(EVE)
    # Everyone holding a card sees the claim; after it, Marshland's offer has lapsed and only
    # the school and Estuary's leads are told of each step (Mo is not shown Eve's terms).
    followers = people(w, HEAD, EVE, ELI)
    steps: list[tuple[str, str, str, dict[str, Any] | None, Counter[int]]] = []

    def step(
        name: str, run: Any, to: str, told: Counter[int], edited: Counter[int] | None = None
    ) -> None:
        mark = last_id(w)
        acted = run()
        assert acted.facts.state is State(to), name
        rows = since(w, rid, mark)
        check_edits(w, rows, rid)
        assert by_kind(rows, "edit") == (edited or followers), name
        assert by_kind(rows, "note") == told, name
        assert by_kind(rows, "card") == Counter(), name
        for r in rows:
            if kind_of(r) == "note":
                assert r.thread_key == card_key(rid, r.person_id or 0)
        steps.append((name, to, acted.message, None, told))

    step(
        "claim",
        lambda: w.service.claim(eve, rid),
        "claimed",
        people(w, HEAD),
        people(w, HEAD, EVE, ELI, MO),
    )
    step(
        "propose",
        lambda: w.service.propose(
            eve,
            rid,
            days=Decimal("2"),
            starts_on=date(2026, 11, 9),
            ends_on=date(2026, 11, 10),
        ),
        "proposed",
        people(w, HEAD),
    )
    assert w.request(rid).proposal_cost_pence == 90000
    step(
        "ask_changes",
        lambda: w.service.ask_changes(ada, rid, "Half a day more, please, for governors."),
        "claimed",
        people(w, EVE),
    )
    assert w.request(rid).proposal_cost_pence is None
    step(
        "propose again",
        lambda: w.service.propose(
            eve,
            rid,
            days=Decimal("2.5"),
            starts_on=date(2026, 11, 9),
            ends_on=date(2026, 11, 11),
            note="The half day is with governors.",
        ),
        "proposed",
        people(w, HEAD),
    )
    proposed = w.request(rid)
    assert proposed.proposal_days == Decimal("2.5")
    assert proposed.proposal_cost_pence == 112500  # 2.5 x £450
    step("accept", lambda: w.service.accept(ada, rid), "agreed", people(w, EVE))
    # Nudged at 07:30 the morning after the agreed start, if not started by then.
    assert maybe_aware(w.request(rid).start_nudge_at) == local_time(2026, 11, 10, 7, 30)
    w.clock.current = local_time(2026, 11, 9, 9)
    step("start", lambda: w.service.start(eve, rid), "in_delivery", people(w, HEAD))
    assert w.request(rid).start_nudge_at is None
    w.clock.current = local_time(2026, 11, 11, 15)
    step("deliver", lambda: w.service.deliver(eve, rid), "delivered", people(w, HEAD))
    # Ten school days after Wed 11 Nov: Wed 25 Nov, same time.
    assert maybe_aware(w.request(rid).close_nudge_at) == local_time(2026, 11, 25, 15)
    w.clock.current = local_time(2026, 11, 13, 9)
    step(
        "close",
        lambda: w.service.close(ada, rid, 4, "Our SEN register is now accurate."),
        "closed",
        people(w, EVE),
    )

    done = w.request(rid)
    assert done.impact_rating == 4
    assert done.impact_evidence == "Our SEN register is now accurate."
    assert done.close_nudge_at is None and done.closed_at is not None
    trail = [(e.action, e.from_state, e.to_state, e.party) for e in events(w, rid)]
    assert trail == [
        ("submit", "draft", "submitted", "requester"),
        ("offer", "submitted", "offered", "system"),
        ("claim", "offered", "claimed", "provider"),
        ("propose", "claimed", "proposed", "provider"),
        ("ask_changes", "proposed", "claimed", "requester"),
        ("propose", "claimed", "proposed", "provider"),
        ("accept", "proposed", "agreed", "requester"),
        ("start", "agreed", "in_delivery", "provider"),
        ("deliver", "in_delivery", "delivered", "provider"),
        ("close", "delivered", "closed", "requester"),
    ]
    details = {e.action: e.detail for e in events(w, rid)}
    assert details["propose"]["cost_pence"] == 112500
    assert details["propose"]["days"] == "2.5"
    assert details["propose"]["day_rate_pence"] == 45000
    assert details["ask_changes"] == {"text": "Half a day more, please, for governors."}
    assert details["accept"]["cost_pence"] == 112500
    assert details["close"] == {"rating": 4, "evidence": "Our SEN register is now accurate."}
    assert details["claim"] == {"alliance_id": w.essex.alliances[ESTUARY]}
    # Each key once: the outbox never holds the same message twice.
    keys = [r.key for r in w.outbox(rid)]
    assert len(keys) == len(set(keys))
    # The requester's last edit shows the impact, and no buttons are left for anyone.
    final = [r for r in w.outbox(rid) if kind_of(r) == "edit"][-3:]
    assert all(_buttons(r) == [] for r in final)
    assert any("4/5" in text_of(r) for r in final)
    found = w.service.find(ada, "sr-2026-0001")
    assert found.facts.state is State.CLOSED and found.actions == ()
    # Marshland's offer lapsed at the claim: its card says who claimed it, and Mo never sees
    # Estuary's terms or the school's rating, on the card or with `show`.
    [mo_edit] = [r for r in w.outbox(rid) if kind_of(r) == "edit" and r.person_id == w.person(MO)]
    assert "held by" in text_of(mo_edit) and "£" not in text_of(mo_edit)
    seen = w.service.find(w.actor(MO), rid)
    assert seen.view is not None and not seen.view.commercial and seen.actions == ()


CLAIM_WHO = "Only Teaching School Alliance leads of an alliance it is offered to may claim"


# --- illegal moves --------------------------------------------------------------------------


def refused(w: SupportWorld, rid: int, run: Any, *words: str) -> UserError:
    """`run` is refused with `words` in the message, and nothing changes."""
    before = snapshot(w, rid)
    with pytest.raises(UserError) as caught:
        run()
    for word in words:
        assert word in caught.value.message, (word, caught.value.message)
    assert snapshot(w, rid) == before
    return caught.value


def test_illegal_transitions_name_the_state_and_change_nothing(w: SupportWorld) -> None:
    rid = w.submit()
    ada, eve = w.actor(HEAD), w.actor(EVE)
    refused(w, rid, lambda: w.service.close(ada, rid, 4, "Great."), "SR-2026-0001", "*offered*")
    refused(w, rid, lambda: w.service.accept(ada, rid), "*offered*")
    refused(w, rid, lambda: w.service.start(eve, rid), "*offered*")
    # Never hers to take, in any state: refused in the table's words.
    refused(w, rid, lambda: w.service.claim(ada, rid), CLAIM_WHO)

    w.service.claim(eve, rid)
    refused(w, rid, lambda: w.service.accept(ada, rid), "*claimed*")  # no proposal yet
    refused(w, rid, lambda: w.service.claim(ada, rid), "already been claimed by *Estuary")
    refused(w, rid, lambda: w.service.deliver(eve, rid), "*claimed*")
    w.service.propose(
        eve, rid, days=Decimal(1), starts_on=date(2026, 11, 9), ends_on=date(2026, 11, 9)
    )
    # Not the provider's to take in any state: the table's words.
    refused(w, rid, lambda: w.service.accept(eve, rid), "Only headteachers and school staff")
    monday = date(2026, 11, 9)
    refused(
        w,
        rid,
        lambda: w.service.propose(ada, rid, days=Decimal(1), starts_on=monday, ends_on=monday),
        "Only Teaching School Alliance leads of the alliance that holds it may propose",
    )

    w.service.withdraw(ada, rid, "We found help elsewhere.")
    assert w.request(rid).state == "withdrawn"
    after: list[Any] = [
        lambda: w.service.claim(eve, rid),
        lambda: w.service.accept(ada, rid),
        lambda: w.service.withdraw(ada, rid),
        lambda: w.service.close(ada, rid, 3, "Fine."),
        lambda: w.service.start(eve, rid),
        lambda: w.service.propose(
            eve, rid, days=Decimal(1), starts_on=date(2026, 11, 9), ends_on=date(2026, 11, 9)
        ),
        lambda: w.service.ask_changes(ada, rid, "More."),
        lambda: w.service.escalate(w.actor(CHAIR), rid),
        lambda: w.service.assign(w.actor(CHAIR), rid, w.essex.alliances[MARSHLAND]),
    ]
    for run in after:
        refused(w, rid, run, "*withdrawn*")


def test_withdraw_tells_the_holder_and_lapses_offers(w: SupportWorld) -> None:
    rid = w.submit()
    mark = last_id(w)
    w.service.withdraw(w.actor(HEAD), rid, "Sorted in house.")
    rows = since(w, rid, mark)
    # Nobody holds it: no note (the cards are edited); the offers lapse.
    assert by_kind(rows, "note") == Counter()
    assert by_kind(rows, "edit") == people(w, HEAD, *OFFER_LEADS)
    assert set(offers(w, rid).values()) == {"lapsed"}

    rid = w.submit()
    w.service.claim(w.actor(MO), rid)
    mark = last_id(w)
    w.service.withdraw(w.actor(HEAD), rid)
    assert by_kind(since(w, rid, mark), "note") == people(w, MO)


# --- who sees what --------------------------------------------------------------------------


def every_action(w: SupportWorld, actor: Actor, rid: int) -> list[Any]:
    s = w.service
    return [
        lambda: s.find(actor, rid),
        lambda: s.events(actor, rid),
        lambda: s.claim(actor, rid),
        lambda: s.assign(actor, rid, w.essex.alliances[MARSHLAND]),
        lambda: s.decline(actor, rid, "capacity"),
        lambda: s.question(actor, rid, "Which year groups?"),
        lambda: s.reply(actor, rid, 1, "Years 3 and 4."),
        lambda: s.propose(
            actor, rid, days=Decimal(1), starts_on=date(2026, 11, 9), ends_on=date(2026, 11, 9)
        ),
        lambda: s.accept(actor, rid),
        lambda: s.ask_changes(actor, rid, "More."),
        lambda: s.start(actor, rid),
        lambda: s.deliver(actor, rid),
        lambda: s.close(actor, rid, 4, "Good."),
        lambda: s.withdraw(actor, rid),
        lambda: s.escalate(actor, rid),
    ]


def not_found_everywhere(w: SupportWorld, actor: Actor, rid: int) -> None:
    """Every command on `rid` says what it says of a request that does not exist."""
    ref = w.request(rid).reference
    with pytest.raises(NotFound) as missing:
        w.service.find(actor, "SR-2026-9999")
    with pytest.raises(NotFound) as missing_id:
        w.service.find(actor, 99999)
    with pytest.raises(NotFound) as by_ref:
        w.service.find(actor, ref)
    assert by_ref.value.message == missing.value.message.replace("SR-2026-9999", ref)
    assert by_ref.value.hint == missing.value.hint
    before = snapshot(w, rid)
    for run in every_action(w, actor, rid):
        with pytest.raises(NotFound) as caught:
            run()
        assert caught.value.message == missing_id.value.message.replace("99999", str(rid))
    assert snapshot(w, rid) == before


def test_who_cannot_see_a_request_is_told_it_does_not_exist(w: SupportWorld) -> None:
    rid = w.submit()
    # The request is there (its school sees it): the refusals below hide it, not its absence.
    assert w.service.find(w.actor(HEAD), rid).facts.id == rid
    for handle in (OTHER_HEAD, SALTINGS_LEAD, WESTWARD_LEAD, WEST_CHAIR, NO_SCHOOL):
        not_found_everywhere(w, w.actor(handle), rid)
    # Claimed: the other schools still see nothing, at any stage.
    w.service.claim(w.actor(EVE), rid)
    not_found_everywhere(w, w.actor(OTHER_HEAD), rid)
    # The Suffolk Ada, whose world has the same names, cannot reach Essex's request by id.
    not_found_everywhere(w, w.actor(HEAD, w.suffolk), rid)


def test_who_can_see_a_request(w: SupportWorld) -> None:
    rid = w.submit()
    for handle in (HEAD, STAFF, EVE, ELI, MO, CHAIR, OFFICER, COUNTY, BOARD):
        assert w.service.find(w.actor(handle), rid).facts.id == rid, handle
    assert w.service.find(w.actor(HEAD), rid).actions == ("withdraw",)
    assert w.service.find(w.actor(EVE), rid).actions == ("claim", "decline", "question")
    assert w.service.find(w.actor(CHAIR), rid).actions == ("escalate", "withdraw")
    assert w.service.find(w.actor(BOARD), rid).actions == ()


def test_the_board_sees_but_may_not_act(w: SupportWorld) -> None:
    rid = w.submit()
    board = w.actor(BOARD)
    assert w.service.find(board, rid).facts.reference == "SR-2026-0001"
    assert [e.action for e in w.service.events(board, rid)] == ["submit", "offer"]
    before = snapshot(w, rid)
    for run in every_action(w, board, rid)[2:]:
        with pytest.raises(Forbidden, match="Only ") as caught:
            run()
        assert "SR-2026-0001" in caught.value.message or "alliance" in caught.value.message
    assert snapshot(w, rid) == before


def test_an_la_routed_request_is_hidden_from_the_chair(w: SupportWorld) -> None:
    rid = w.service.submit(w.actor(HEAD), w.ask("safeguarding_concern")).facts.id
    not_found_everywhere(w, w.actor(CHAIR), rid)
    for handle in (OFFICER, COUNTY):
        found = w.service.find(w.actor(handle), rid)
        assert "assign" in found.actions
    # No alliance sees it until one is assigned.
    for lead in (*OFFER_LEADS, *INELIGIBLE_LEADS):
        not_found_everywhere(w, w.actor(lead), rid)
    w.service.assign(w.actor(OFFICER), rid, w.essex.alliances[MARSHLAND], "Please call me first.")
    assert w.service.find(w.actor(MO), rid).facts.holder == MARSHLAND
    not_found_everywhere(w, w.actor(CHAIR), rid)


def test_lists_show_exactly_what_find_shows(w: SupportWorld) -> None:
    """`visible_clause` (lists) and `find` agree, for everyone, on every kind of request."""
    w.submit()
    w.submit("safeguarding_concern")
    claimed = w.submit()
    w.service.claim(w.actor(MO), claimed)
    w.submit(consent=False)
    w.submit("phase_expertise", by=WEST_HEAD, school=FIELDGATE)
    w.submit(place=w.suffolk)
    with w.db.session() as s:
        every = [r.id for r in s.exec(select(SupportRequest)).all() if r.id is not None]
    for place in (w.essex, w.suffolk):
        for handle in place.people:
            actor = w.actor(handle, place)
            with w.db.session() as s:
                listed = set(s.exec(select(SupportRequest.id).where(visible_clause(actor))).all())
            found = set()
            for rid in every:
                try:
                    w.service.find(actor, rid)
                except NotFound:
                    continue
                found.add(rid)
            assert listed == found, handle


# --- escalation and assignment --------------------------------------------------------------


def test_unclaimed_escalates_after_three_school_days_across_half_term(w: SupportWorld) -> None:
    # Thu 22 Oct 10:00: Fri 23 is one, half term (26-30 Oct) counts none, Mon 2 Nov two,
    # Tue 3 Nov three. The clocks went back on Sun 25 Oct: 10:00 is 10:00 UTC by then.
    rid = w.submit()
    due = local_time(2026, 11, 3, 10)
    assert maybe_aware(w.request(rid).escalate_at) == due
    mark = last_id(w)
    for moment in (
        local_time(2026, 10, 23, 17),
        local_time(2026, 10, 29, 10),  # in half term
        local_time(2026, 11, 2, 10),
        due - timedelta(seconds=1),
    ):
        w.clock.current = moment
        assert w.service.sweep().escalated == 0
    assert w.request(rid).state == "offered"
    assert since(w, rid, mark) == []

    w.clock.current = due
    counts = w.service.sweep()
    assert counts.escalated == 1 and counts.problems == []
    assert w.request(rid).state == "escalated"
    assert w.request(rid).escalate_at is None
    rows = since(w, rid, mark)
    assert by_kind(rows, "card") == people(w, CHAIR, OFFICER)
    assert by_kind(rows, "note") == people(w, HEAD)
    assert by_kind(rows, "edit") == people(w, HEAD, *OFFER_LEADS)
    check_edits(w, rows, rid)
    chair_card = next(r for r in rows if r.person_id == w.person(CHAIR))
    assert "slis.support.assign" in _buttons(chair_card)
    escalation = events(w, rid)[-1]
    assert (escalation.action, escalation.party, escalation.from_state) == (
        "escalate",
        "system",
        "offered",
    )
    assert escalation.detail == {"reason": "nobody has claimed it after 3 school days"}

    mark = last_id(w)
    w.clock.advance(days=1)
    assert w.service.sweep().escalated == 0
    assert since(w, rid, mark) == []
    assert [e.action for e in events(w, rid)].count("escalate") == 1

    # The offers still stand: a lead may claim it, and the chairs are told.
    w.service.claim(w.actor(MO), rid)
    assert by_kind(since(w, rid, mark), "note") == people(w, HEAD, CHAIR, OFFICER)


def test_a_chair_assigns_an_escalated_request(w: SupportWorld) -> None:
    rid = w.submit(consent=False)
    cara = w.actor(CHAIR)
    with pytest.raises(FieldProblem) as problem:
        w.service.assign(cara, rid, w.suffolk.alliances[ESTUARY])
    assert problem.value.field == "alliance"
    mark = last_id(w)
    acted = w.service.assign(cara, rid, w.essex.alliances[ESTUARY], "They know the school.")
    assert acted.facts.state is State.CLAIMED
    assert acted.facts.holder == ESTUARY and acted.facts.holder_person == NAMES[EVE]
    rows = since(w, rid, mark)
    # Both Estuary leads get a card (they had none); the requester a note; the chairs an edit.
    assert by_kind(rows, "card") == people(w, EVE, ELI)
    assert by_kind(rows, "note") == people(w, HEAD)
    assert by_kind(rows, "edit") == people(w, HEAD, CHAIR, OFFICER)
    assert offers(w, rid) == {w.essex.alliances[ESTUARY]: "claimed"}
    assert events(w, rid)[-1].detail == {
        "alliance_id": w.essex.alliances[ESTUARY],
        "note": "They know the school.",
    }
    w.service.propose(
        w.actor(ELI), rid, days=Decimal(1), starts_on=date(2026, 11, 9), ends_on=date(2026, 11, 9)
    )


def test_a_chair_takes_a_claimed_request_back(w: SupportWorld) -> None:
    rid = w.submit()
    w.service.claim(w.actor(EVE), rid)
    mark = last_id(w)
    w.service.escalate(w.actor(OFFICER), rid, "No proposal after a fortnight.")
    request = w.request(rid)
    assert request.state == "escalated"
    assert request.claimed_by_alliance_id is None and request.claimed_by_person_id is None
    rows = since(w, rid, mark)
    # The holder and the school are told; the quadrant chair gets a card to assign it from
    # (the officer who escalated it has it in front of them).
    assert by_kind(rows, "note") == people(w, EVE, HEAD)
    assert by_kind(rows, "card") == people(w, CHAIR)
    assert offers(w, rid)[w.essex.alliances[ESTUARY]] == "lapsed"
    with pytest.raises(UserError):
        w.service.propose(
            w.actor(EVE),
            rid,
            days=Decimal(1),
            starts_on=date(2026, 11, 9),
            ends_on=date(2026, 11, 9),
        )


# --- nudges ---------------------------------------------------------------------------------


def agreed(w: SupportWorld, starts: date) -> int:
    rid = w.submit()
    eve = w.actor(EVE)
    w.service.claim(eve, rid)
    w.service.propose(eve, rid, days=Decimal(1), starts_on=starts, ends_on=starts)
    w.service.accept(w.actor(HEAD), rid)
    return rid


def test_start_nudge_the_morning_after_an_agreed_start(w: SupportWorld) -> None:
    rid = agreed(w, date(2026, 11, 13))  # a Friday: the morning after is Monday's
    due = local_time(2026, 11, 16, 7, 30)
    assert maybe_aware(w.request(rid).start_nudge_at) == due
    mark = last_id(w)
    w.clock.current = due - timedelta(minutes=1)
    assert w.service.sweep().start_nudges == 0
    w.clock.current = due
    assert w.service.sweep().start_nudges == 1
    rows = since(w, rid, mark)
    assert by_kind(rows, "note") == people(w, EVE)
    assert by_kind(rows, "edit") == Counter() and by_kind(rows, "card") == Counter()
    assert "Fri 13 Nov 2026" in text_of(rows[0])
    assert w.request(rid).state == "agreed" and w.request(rid).version == 4
    w.clock.advance(days=3)
    assert w.service.sweep().start_nudges == 0
    assert len(since(w, rid, mark)) == 1
    assert [e.action for e in events(w, rid)][-1] == "nudge"


def test_no_start_nudge_once_started(w: SupportWorld) -> None:
    rid = agreed(w, date(2026, 11, 13))
    w.clock.current = local_time(2026, 11, 13, 9)
    w.service.start(w.actor(EVE), rid)
    w.clock.current = local_time(2026, 11, 20, 9)
    assert w.service.sweep().start_nudges == 0


def test_close_nudge_ten_school_days_after_delivery(w: SupportWorld) -> None:
    rid = agreed(w, date(2026, 11, 13))
    eve = w.actor(EVE)
    w.clock.current = local_time(2026, 11, 13, 9)
    w.service.start(eve, rid)
    w.clock.current = local_time(2026, 12, 4, 14)  # Fri 4 Dec
    w.service.deliver(eve, rid)
    # Ten school days: 7-11 Dec and 14-18 Dec; the term ends on Fri 18 Dec.
    due = local_time(2026, 12, 18, 14)
    assert maybe_aware(w.request(rid).close_nudge_at) == due
    mark = last_id(w)
    w.clock.current = due - timedelta(seconds=1)
    assert w.service.sweep().close_nudges == 0
    w.clock.current = due
    assert w.service.sweep().close_nudges == 1
    assert by_kind(since(w, rid, mark), "note") == people(w, HEAD)
    w.clock.advance(days=30)
    assert w.service.sweep().close_nudges == 0
    assert len(since(w, rid, mark)) == 1


# --- declining, questions -------------------------------------------------------------------


def test_when_every_offer_is_declined_it_escalates_at_once(w: SupportWorld) -> None:
    rid = w.submit()
    w.service.decline(w.actor(EVE), rid, "capacity")
    assert w.request(rid).state == "offered"
    # Estuary has declined: its other lead may no longer claim.
    with pytest.raises(UserError):
        w.service.claim(w.actor(ELI), rid)
    mark = last_id(w)
    w.service.decline(w.actor(MO), rid, "expertise", "We have no SEN specialist free.")
    assert w.request(rid).state == "escalated"
    rows = since(w, rid, mark)
    assert by_kind(rows, "card") == people(w, CHAIR, OFFICER)
    assert by_kind(rows, "note") == people(w, HEAD)
    assert offers(w, rid) == {
        w.essex.alliances[ESTUARY]: "declined",
        w.essex.alliances[MARSHLAND]: "declined",
    }
    trail = [(e.action, e.from_state, e.to_state) for e in events(w, rid)][2:]
    assert trail == [
        ("decline", "offered", "offered"),
        ("decline", "offered", "offered"),
        ("escalate", "offered", "escalated"),
    ]
    with pytest.raises(UserError):
        w.service.decline(w.actor(MO), rid, "capacity")


def test_questions_and_replies_go_in_the_threads(w: SupportWorld) -> None:
    rid = w.submit()
    mark = last_id(w)
    asked = w.service.question(w.actor(MO), rid, "Which year groups?")
    assert "Ada Brightwater" in asked.message
    rows = since(w, rid, mark)
    assert len(rows) == 1
    question = rows[0]
    assert question.person_id == w.person(HEAD)
    assert question.thread_key == card_key(rid, w.person(HEAD))
    assert "Which year groups?" in text_of(question)
    event = events(w, rid)[-1]
    assert event.action == "question" and event.actor_person_id == w.person(MO)
    reply_buttons = _button_values(question)
    assert reply_buttons == [("slis.support.reply", f"{rid}:{event.id}")]

    mark = last_id(w)
    assert event.id is not None
    w.service.reply(w.actor(HEAD), rid, event.id, "Years 3 and 4.")
    rows = since(w, rid, mark)
    assert len(rows) == 1
    assert rows[0].person_id == w.person(MO)
    assert rows[0].thread_key == card_key(rid, w.person(MO))
    assert "Years 3 and 4." in text_of(rows[0]) and "Which year groups?" in text_of(rows[0])
    # Only the school replies, and only to a question of this request.
    with pytest.raises(UserError):
        w.service.reply(w.actor(EVE), rid, event.id, "Me too.")
    other = w.submit()
    with pytest.raises(NotFound):
        w.service.reply(w.actor(HEAD), other, event.id, "Wrong thread.")


# --- isolation ------------------------------------------------------------------------------


def test_tenants_are_kept_apart(w: SupportWorld) -> None:
    essex = w.submit()
    suffolk = w.submit(place=w.suffolk)
    assert w.request(suffolk).reference == w.request(essex).reference == "SR-2026-0001"
    # By reference each sees their own; by id only their own.
    assert w.service.find(w.actor(HEAD), "SR-2026-0001").facts.id == essex
    assert w.service.find(w.actor(HEAD, w.suffolk), "SR-2026-0001").facts.id == suffolk
    for handle in (HEAD, EVE, CHAIR, OFFICER, COUNTY, BOARD):
        with pytest.raises(NotFound):
            w.service.find(w.actor(handle), suffolk)
    with pytest.raises(NotFound):
        w.service.claim(w.actor(EVE), suffolk)
    assert w.request(suffolk).state == "offered"
    # Suffolk's escalation goes to Suffolk's chairs.
    w.clock.current = local_time(2026, 11, 3, 10)
    assert w.service.sweep().escalated == 2
    suffolk_people = set(w.suffolk.people.values())
    assert {r.person_id for r in w.outbox(suffolk)} <= suffolk_people
    assert {r.tenant_id for r in w.outbox(suffolk)} == {w.suffolk.tenant_id}
    assert {r.person_id for r in w.outbox(essex)}.isdisjoint(suffolk_people)


# --- the forms ------------------------------------------------------------------------------


def test_the_ask_form_opens_prefilled_and_sends(w: SupportWorld) -> None:
    flow = AskFlow(w.service)
    ada = w.actor(HEAD)
    page = flow.open(ada, "a review of our pupil premium strategy")
    assert isinstance(page, ShowPage)
    assert page.values["category"] == "pupil_premium_review"
    assert page.values["needed"] == "a review of our pupil premium strategy"
    assert page.form.private_metadata == str(w.essex.schools[HARBOUR])
    assert "school" not in [f.id for f in page.form.pages[0].fields]
    assert flow.open(ada, "").values == {}

    values = {
        **page.values,
        "why_now": "Our spending review is due.",
        "urgency": "high",
        "days": Decimal("1.5"),
        "consent": "yes",
        "window_from": date(2026, 11, 2),
        "window_to": date(2026, 11, 27),
    }
    step = flow.submit(ada, page.form.private_metadata, 0, values)
    assert isinstance(step, Finished)
    assert "SR-2026-0001" in step.reply.text and "2 alliances" in step.reply.text
    stored = w.request(w.service.find(ada, "SR-2026-0001").facts.id)
    assert stored.category_id == "pupil_premium_review" and stored.consent_to_share
    assert stored.days_estimate == 1.5 and stored.urgency == "high"

    bad = flow.submit(ada, page.form.private_metadata, 0, {**values, "needed": " "})
    assert isinstance(bad, PageErrors) and list(bad.errors) == ["needed"]
    past_values = {**values, "window_to": date(2026, 9, 1)}
    past = flow.submit(ada, page.form.private_metadata, 0, past_values)
    assert isinstance(past, PageErrors) and list(past.errors) == ["window_to"]
    # A form opened for a school that is not (or no longer) theirs has no school field to
    # show the problem on: it is said instead.
    with pytest.raises(UserError, match="your own school"):
        flow.submit(ada, str(w.essex.schools[LIGHTHOUSE]), 0, values)
    # Without consent the confirmation says where it went instead.
    private = flow.submit(ada, page.form.private_metadata, 0, {**values, "consent": "no"})
    assert isinstance(private, Finished) and "quadrant chair" in private.reply.text
    with pytest.raises(Forbidden):
        flow.open(w.actor(NO_SCHOOL), "help")


def test_the_action_buttons(w: SupportWorld) -> None:
    rid = w.submit()
    flow = ActionFlow(w.service)
    eve, ada = w.actor(EVE), w.actor(HEAD)

    claimed = flow.press(eve, "claim", str(rid))
    assert isinstance(claimed, Reply) and claimed.private
    assert "You have claimed SR-2026-0001" in claimed.text
    assert w.request(rid).state == "claimed"

    # A form the state does not allow is refused before it opens, naming the state.
    with pytest.raises(UserError, match=r"\*claimed\*"):
        flow.press(ada, "close", str(rid))

    form = flow.press(eve, "propose", str(rid))
    assert isinstance(form, ShowPage)
    metadata = form.form.private_metadata
    assert metadata == f"{rid}:propose"
    past = flow.submit(
        eve,
        metadata,
        0,
        {"days": Decimal(2), "starts_on": date(2026, 10, 1), "ends_on": date(2026, 10, 2)},
    )
    assert isinstance(past, PageErrors) and list(past.errors) == ["starts_on"]
    halves = flow.submit(
        eve,
        metadata,
        0,
        {"days": Decimal("1.3"), "starts_on": date(2026, 11, 9), "ends_on": date(2026, 11, 9)},
    )
    assert isinstance(halves, PageErrors) and list(halves.errors) == ["days"]
    sent = flow.submit(
        eve,
        metadata,
        0,
        {"days": Decimal(2), "starts_on": date(2026, 11, 9), "ends_on": date(2026, 11, 10)},
    )
    assert isinstance(sent, Finished) and "£900.00" in sent.reply.text
    assert w.request(rid).state == "proposed"

    accepted = flow.press(ada, "accept", str(rid))
    assert isinstance(accepted, Reply) and w.request(rid).state == "agreed"
    w.clock.current = local_time(2026, 11, 9, 9)
    flow.press(eve, "start", str(rid))
    flow.press(eve, "deliver", str(rid))
    close = flow.press(ada, "close", str(rid))
    assert isinstance(close, ShowPage)
    no_words = flow.submit(ada, close.form.private_metadata, 0, {"rating": 5, "evidence": ""})
    assert isinstance(no_words, PageErrors) and list(no_words.errors) == ["evidence"]
    closed = flow.submit(
        ada, close.form.private_metadata, 0, {"rating": 5, "evidence": "Spending is focused."}
    )
    assert isinstance(closed, Finished)
    assert w.request(rid).impact_rating == 5

    with pytest.raises(UserError, match="out of date"):
        flow.press(ada, "close", "abc")
    with pytest.raises(UserError, match="don't know"):
        flow.press(ada, "dance", str(rid))


def test_the_decline_question_reply_and_changes_forms(w: SupportWorld) -> None:
    rid = w.submit()
    flow = ActionFlow(w.service)
    mo, ada = w.actor(MO), w.actor(HEAD)
    question = flow.press(mo, "question", str(rid))
    assert isinstance(question, ShowPage)
    assert [f.id for f in question.form.pages[0].fields] == ["text"]
    empty = flow.submit(mo, question.form.private_metadata, 0, {"text": "  "})
    assert isinstance(empty, PageErrors) and list(empty.errors) == ["text"]
    asked = flow.submit(mo, question.form.private_metadata, 0, {"text": "Which classes?"})
    assert isinstance(asked, Finished)
    event = events(w, rid)[-1]
    reply = flow.press(ada, "reply", f"{rid}:{event.id}")
    assert isinstance(reply, ShowPage) and reply.form.private_metadata == f"{rid}:reply:{event.id}"
    empty = flow.submit(ada, reply.form.private_metadata, 0, {"text": ""})
    assert isinstance(empty, PageErrors) and list(empty.errors) == ["text"]
    sent = flow.submit(ada, reply.form.private_metadata, 0, {"text": "Year 5."})
    assert isinstance(sent, Finished)
    assert by_kind(w.outbox(rid), "note") == people(w, HEAD, MO)

    w.service.claim(mo, rid)
    w.service.propose(
        mo, rid, days=Decimal(1), starts_on=date(2026, 11, 9), ends_on=date(2026, 11, 9)
    )
    changes = flow.press(ada, "ask_changes", str(rid))
    assert isinstance(changes, ShowPage)
    empty = flow.submit(ada, changes.form.private_metadata, 0, {"text": " "})
    assert isinstance(empty, PageErrors) and list(empty.errors) == ["text"]

    other = w.submit()
    decline = flow.press(w.actor(EVE), "decline", str(other))
    assert isinstance(decline, ShowPage)
    done = flow.submit(w.actor(EVE), decline.form.private_metadata, 0, {"reason": "capacity"})
    assert isinstance(done, Finished) and "no capacity this term" in done.reply.text


def test_concurrent_last_declines_escalate_once(w: SupportWorld) -> None:
    """The last two open offers declined at the same moment: the request escalates, once."""
    for _ in range(4):
        rid = w.submit()
        actors = [w.actor(EVE), w.actor(MO)]
        barrier = threading.Barrier(2)
        problems: list[BaseException] = []

        def press(
            actor: Actor,
            rid: int = rid,
            barrier: threading.Barrier = barrier,
            problems: list[BaseException] = problems,
        ) -> None:
            barrier.wait()
            try:
                w.service.decline(actor, rid, "capacity")
            except BaseException as exc:
                problems.append(exc)

        threads = [threading.Thread(target=press, args=(a,)) for a in actors]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert problems == []
        assert w.request(rid).state == "escalated"
        assert [e.action for e in events(w, rid)].count("escalate") == 1
        assert by_kind(w.outbox(rid), "card") == people(w, HEAD, *OFFER_LEADS, CHAIR, OFFICER)


# --- helpers --------------------------------------------------------------------------------


def _buttons(row: OutboxMessage) -> list[str]:
    return [a for a, _ in _button_values(row)]


def _button_values(row: OutboxMessage) -> list[tuple[str, str]]:
    reply = reply_from_json(row.payload)
    return [
        (b.action_id, b.value)
        for block in reply.blocks
        if isinstance(block, Actions)
        for b in block.buttons
    ]


def test_world_is_as_documented(w: SupportWorld) -> None:
    """The ineligible alliances are excluded for the reasons the world says."""
    from bot.services.support import routing

    calendar = w.calendars.for_tenant(w.essex.tenant_id)
    with w.db.session() as s:
        found = routing.route(
            s,
            tenant_id=w.essex.tenant_id,
            school_id=w.essex.schools[HARBOUR],
            category=w.catalogue.category("sen_review"),
            calendar=calendar,
            today=date(2026, 10, 22),
        )
    assert [c.name for c in found.eligible] == list(ELIGIBLE)
    reasons = {e.name: e.reason for e in found.excluded}
    assert "expertise" in reasons[SALTINGS]
    assert reasons[WESTWARD] == "does not serve North East"
    assert "no days left" in reasons[FULL_HOUSE]
    assert "lead school" in reasons[HARBOUR_COVE]
    assert FIELDGATE in w.essex.schools and FULL_HOUSE_LEAD in w.essex.people
    assert HARBOUR_COVE_LEAD in w.essex.people
    assert isinstance(w.service, SupportService)
    assert isinstance(w.request(1), SupportRequest)


def test_nobody_is_offered_or_may_claim_their_own_schools_request(w: SupportWorld) -> None:
    # Ravi, staff at Harbour Primary, also leads Marshland (whose lead school is elsewhere).
    with w.db.session() as s:
        s.add(
            RoleAssignment(
                tenant_id=w.essex.tenant_id,
                person_id=w.person(STAFF),
                role=Role.ALLIANCE_LEAD.value,
                scope_kind=ScopeKind.ALLIANCE.value,
                scope_id=w.essex.alliances[MARSHLAND],
            )
        )
    submitted = w.service.submit(w.actor(HEAD), w.ask())
    assert submitted.offered_to == (ESTUARY,)  # Marshland is led by someone at the school
    rid = submitted.facts.id
    with pytest.raises(UserError, match=CLAIM_WHO):
        w.service.claim(w.actor(STAFF), rid)
    assert w.request(rid).state == "offered"


def test_the_sweep_escalates_a_fully_declined_request_a_crash_left_offered(
    w: SupportWorld,
) -> None:
    rid = w.submit()
    with w.db.session() as s:  # both declines committed, the escalation never ran
        for offer in s.exec(select(SupportOffer).where(SupportOffer.request_id == rid)).all():
            offer.status = "declined"
            s.add(offer)
    counts = w.service.sweep()
    assert counts.escalated == 1 and w.request(rid).state == "escalated"
    [escalation] = [e for e in events(w, rid) if e.action == "escalate"]
    assert escalation.detail == {"reason": "every alliance it was offered to has declined"}
    assert w.service.sweep().escalated == 0
