"""The availability poll once sent: votes through the poll card's buttons, the chair's live
tally, the one nudge, and closing (at the deadline or by the chair) with the pick to book.

Every poll here is proposed through the form (test_meeting_proposing.propose) on Mon 1 Mar
2027 09:00 (GMT) by Juno Chairwell for West: times 1 Tue 9 Mar 16:00, 2 Wed 10 Mar 15:30,
3 Thu 11 Mar 09:00; voting closes Fri 5 Mar at noon, so the nudge is due from Thu 4 Mar 07:30.
Invitees with a chat account: Wren Halloway, Corin Ashdale, ada Quickfern, Elm Rushworth;
Bryn Tolliver has none.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from bot.errors import Forbidden, NotFound, UserError
from bot.reply_codec import reply_from_json
from bot.services.meetings.common import poll_key, tally_key
from bot.services.meetings.voting import Voting, nudge_from, pick_key
from bot.types import Actions, Button, Paragraph, Reply, Role, ScopeKind
from storage.engine import Database
from storage.meeting_tables import Meeting, MeetingInvitee, MeetingSlot, MeetingVote
from storage.models import aware
from storage.outbox_tables import OutboxMessage
from tests.services.meeting_world import MeetingWorld, make_place, meeting_world
from tests.services.test_meeting_proposing import propose

DEADLINE = datetime(2027, 3, 5, 12, 0, tzinfo=UTC)
CHAT_INVITEES = ("Wren Halloway", "Corin Ashdale", "ada Quickfern", "Elm Rushworth")


def voting(w: MeetingWorld) -> Voting:
    return Voting(w.db, w.clock, w.calendars)


def slot_ids(w: MeetingWorld, meeting: Meeting) -> dict[int, int]:
    """The meeting's slot ids by position."""
    with w.db.session() as s:
        rows = s.exec(
            select(MeetingSlot.position, MeetingSlot.id).where(MeetingSlot.meeting_id == meeting.id)
        ).all()
    return {pos: sid for pos, sid in rows if sid is not None}


def vote(w: MeetingWorld, name: str, meeting: Meeting, position: int, answer: str) -> Reply:
    """Press the poll card's button for `answer` on time `position`, as Slack sends it."""
    value = f"{meeting.id}:{slot_ids(w, meeting)[position]}:{answer}"
    reply = voting(w).press(w.actor(name), f"vote.{position}.{answer}", value)
    assert isinstance(reply, Reply)
    return reply


def cast(w: MeetingWorld, meeting: Meeting, ballots: dict[str, str]) -> None:
    """Votes by name: "ynm" is Yes for time 1, No for 2, If need be for 3 ("-": no answer)."""
    answers = {"y": "yes", "n": "no", "m": "if_need_be"}
    for name, letters in ballots.items():
        for position, letter in enumerate(letters, start=1):
            if letter != "-":
                vote(w, name, meeting, position, answers[letter])


def text_of(reply: Reply) -> str:
    return "\n".join(b.text for b in reply.blocks if isinstance(b, Paragraph))


def buttons_of(reply: Reply) -> list[Button]:
    return [b for block in reply.blocks if isinstance(block, Actions) for b in block.buttons]


def latest(w: MeetingWorld, prefix: str) -> OutboxMessage:
    rows = w.outbox(prefix)
    assert rows, prefix
    return rows[-1]


def the_tally(w: MeetingWorld, meeting: Meeting) -> Reply:
    """The chair's tally card as it last stands (the latest edit, or the card itself)."""
    assert meeting.id is not None
    return reply_from_json(latest(w, tally_key(meeting.id)).payload)


# --- votes and the tally --------------------------------------------------------------------


def test_votes_through_the_buttons_make_the_tally_and_pick_the_best_time(db: Database) -> None:
    w = meeting_world(db)
    meeting, _ = propose(w)
    card = vote(w, "Wren Halloway", meeting, 1, "yes")
    # The card comes back redrawn, Wren's answer marked.
    first_row = buttons_of(card)[:3]
    assert [(b.label, b.style) for b in first_row] == [
        ("✓ Yes", "primary"),
        ("If need be", None),
        ("No", None),
    ]
    assert all(b.style is None for b in buttons_of(card)[3:])
    assert voting(w).IN_PLACE == ("vote",) and voting(w).ACTIONS == ("vote", "close")

    cast(w, meeting, {"Wren Halloway": "-ny", "Corin Ashdale": "yyn", "ada Quickfern": "my-"})
    cast(w, meeting, {"Elm Rushworth": "nyy"})
    tally = text_of(the_tally(w, meeting))
    lines = tally.splitlines()
    assert lines[0].startswith("*1.* Tue 9 Mar 2027, 16:00–17:00")
    assert lines[1] == "Yes 2 · If need be 1 · No 1 · not voted 1"
    # Time 2: three Yes, one No: the best so far.
    assert lines[2] == "*2.* Wed 10 Mar 2027, 15:30–17:00  ★ *best so far*"
    assert lines[3] == "Yes 3 · If need be 0 · No 1 · not voted 1"
    assert lines[5] == "Yes 2 · If need be 0 · No 1 · not voted 2"
    assert "*Answered some times only:* ada Quickfern" in tally
    assert "Not voted yet" not in tally
    assert "Bryn Tolliver" in json.dumps(latest(w, "meeting:1:tally").payload)
    assert [b.action_id for b in buttons_of(the_tally(w, meeting))] == ["slis.meeting.close"]

    with w.db.session() as s:
        assert len(s.exec(select(MeetingVote)).all()) == 11


@pytest.mark.parametrize(
    ("ballots", "best"),
    [
        ({"Wren Halloway": "yyy", "Corin Ashdale": "nyy", "ada Quickfern": "-yn"}, 2),  # most Yes
        ({"Wren Halloway": "yyy", "Corin Ashdale": "yyn", "ada Quickfern": "n-m"}, 2),  # fewest No
        ({"Wren Halloway": "yyy", "Corin Ashdale": "mmm"}, 1),  # all equal: the earliest
    ],
    ids=["most yes", "then fewest no", "then earliest"],
)
def test_the_best_time_follows_the_rule(db: Database, ballots: dict[str, str], best: int) -> None:
    w = meeting_world(db)
    meeting, _ = propose(w)
    cast(w, meeting, ballots)
    marked = [line for line in text_of(the_tally(w, meeting)).splitlines() if "★" in line]
    assert len(marked) == 1 and marked[0].startswith(f"*{best}.*")


def test_a_changed_vote_counts_once_and_the_same_click_twice_changes_nothing(
    db: Database,
) -> None:
    w = meeting_world(db)
    meeting, _ = propose(w)
    assert meeting.id is not None
    vote(w, "Corin Ashdale", meeting, 2, "yes")
    edits = len(w.outbox(f"{tally_key(meeting.id)}:"))
    again = vote(w, "Corin Ashdale", meeting, 2, "yes")
    assert len(w.outbox(f"{tally_key(meeting.id)}:")) == edits == 1
    assert buttons_of(again)[3].label == "✓ Yes"

    changed = vote(w, "Corin Ashdale", meeting, 2, "no")
    assert [b.label for b in buttons_of(changed)[3:6]] == ["Yes", "If need be", "✓ No"]
    assert len(w.outbox(f"{tally_key(meeting.id)}:")) == 2
    with w.db.session() as s:
        votes = s.exec(select(MeetingVote)).all()
    assert [(v.person_id, v.answer) for v in votes] == [(w.person("Corin Ashdale"), "no")]
    assert "Yes 0 · If need be 0 · No 1 · not voted 4" in text_of(the_tally(w, meeting))
    # Each edit replaces the chair's tally card, at once.
    for row in w.outbox(f"{tally_key(meeting.id)}:"):
        assert row.edits_key == tally_key(meeting.id)
        assert row.person_id == w.person("Juno Chairwell")
        assert aware(row.not_before) == w.clock.now()


def test_only_invitees_vote(db: Database) -> None:
    w = meeting_world(db)
    meeting, _ = propose(w)
    with pytest.raises(UserError) as refused:
        vote(w, "Juno Chairwell", meeting, 1, "yes")  # the chair sees the poll but is not invited
    assert "Only those invited may vote in this meeting's poll (M-2027-0001)" in (
        refused.value.message
    )
    for outsider in ("Fenn Saltley", "Hal Headley", "Sol Southgate"):
        with pytest.raises(NotFound):
            vote(w, outsider, meeting, 1, "yes")
    # A slot of another meeting, or an altered answer, is an out-of-date button.
    other, _ = propose(w)
    alien = slot_ids(w, other)[1]
    wren = w.actor("Wren Halloway")
    with pytest.raises(UserError, match="out of date"):
        voting(w).press(wren, "vote.1.yes", f"{meeting.id}:{alien}:yes")
    with pytest.raises(UserError, match="out of date"):
        voting(w).press(wren, "vote.1.maybe", f"{meeting.id}:{slot_ids(w, meeting)[1]}:maybe")
    with w.db.session() as s:
        assert s.exec(select(MeetingVote)).all() == []


def test_voting_after_the_deadline_is_refused(db: Database) -> None:
    w = meeting_world(db)
    meeting, _ = propose(w)
    vote(w, "Wren Halloway", meeting, 1, "yes")
    w.at(DEADLINE)
    with pytest.raises(UserError) as refused:
        vote(w, "Wren Halloway", meeting, 1, "no")
    assert refused.value.message == (
        "M-2027-0001: Voting closed on Fri 5 Mar 2027 at 12:00. The chair will send the"
        " invitation once a time is booked."
    )
    with w.db.session() as s:
        assert [v.answer for v in s.exec(select(MeetingVote)).all()] == ["yes"]


def test_concurrent_votes_all_count_and_the_last_tally_shows_them(db: Database) -> None:
    w = meeting_world(db)
    meeting, _ = propose(w)
    failures: list[BaseException] = []
    start = threading.Barrier(len(CHAT_INVITEES))

    def press(name: str) -> None:
        try:
            start.wait()
            vote(w, name, meeting, 1, "yes")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=press, args=(n,)) for n in CHAT_INVITEES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert "Yes 4 · If need be 0 · No 0 · not voted 1" in text_of(the_tally(w, meeting))


# --- the nudge --------------------------------------------------------------------------------


def test_non_voters_get_one_nudge_a_school_day_before_the_deadline(db: Database) -> None:
    w = meeting_world(db)
    meeting, _ = propose(w)
    assert meeting.id is not None
    cast(w, meeting, {"Wren Halloway": "yny", "Corin Ashdale": "y--"})
    assert nudge_from(w.calendar(), DEADLINE) == datetime(2027, 3, 4, 7, 30, tzinfo=UTC)

    assert voting(w).sweep(datetime(2027, 3, 4, 7, 29, tzinfo=UTC)) == {
        "polls_closed": 0,
        "nudges": 0,
    }
    at = datetime(2027, 3, 4, 7, 30, tzinfo=UTC)
    assert voting(w).sweep(at) == {"polls_closed": 0, "nudges": 3}
    nudges = w.outbox(f"meeting:{meeting.id}:nudge:")
    # Corin answered one time of three; ada and Elm none; Wren all; Bryn has no chat account.
    assert w.names(n.person_id for n in nudges) == {
        "Corin Ashdale",
        "ada Quickfern",
        "Elm Rushworth",
    }
    for n in nudges:
        assert n.key == f"meeting:{meeting.id}:nudge:{n.person_id}"
        assert n.person_id is not None
        assert n.thread_key == poll_key(meeting.id, n.person_id)
        assert aware(n.not_before) == at
    corin = next(n for n in nudges if n.person_id == w.person("Corin Ashdale"))
    assert "not answered for times 2, 3 yet" in reply_from_json(corin.payload).text
    assert "closes Fri 5 Mar 2027 at 12:00" in reply_from_json(corin.payload).text

    # Never twice, whatever happens next.
    assert voting(w).sweep(datetime(2027, 3, 4, 7, 31, tzinfo=UTC))["nudges"] == 0
    assert voting(w).sweep(datetime(2027, 3, 5, 9, 0, tzinfo=UTC))["nudges"] == 0
    assert len(w.outbox(f"meeting:{meeting.id}:nudge:")) == 3
    with w.db.session() as s:
        marked = s.exec(
            select(MeetingInvitee.person_id).where(col(MeetingInvitee.nudged_at).is_not(None))
        ).all()
    assert w.names(marked) == {"Corin Ashdale", "ada Quickfern", "Elm Rushworth"}


def test_the_nudge_waits_for_the_last_school_day_before_a_monday_deadline(db: Database) -> None:
    w = meeting_world(db)
    monday = (datetime(2027, 3, 8).date(), datetime(2027, 3, 8, 12, 0).time())
    meeting, _ = propose(w, deadline=monday)
    deadline = datetime(2027, 3, 8, 12, 0, tzinfo=UTC)
    friday = datetime(2027, 3, 5, 7, 30, tzinfo=UTC)
    assert nudge_from(w.calendar(), deadline) == friday
    assert voting(w).sweep(datetime(2027, 3, 4, 16, 0, tzinfo=UTC))["nudges"] == 0
    # A sweep at the weekend still nudges (it missed Friday): due at Monday's opening.
    assert voting(w).sweep(datetime(2027, 3, 6, 10, 0, tzinfo=UTC))["nudges"] == 4
    assert {aware(n.not_before) for n in w.outbox(f"meeting:{meeting.id}:nudge:")} == {
        datetime(2027, 3, 8, 7, 30, tzinfo=UTC)
    }


def test_a_poll_sent_inside_the_nudge_window_is_not_nudged(db: Database) -> None:
    w = meeting_world(db, datetime(2027, 3, 4, 10, 0, tzinfo=UTC))  # Thu, deadline Fri noon
    meeting, _ = propose(w)
    assert voting(w).sweep(datetime(2027, 3, 4, 16, 0, tzinfo=UTC))["nudges"] == 0
    assert w.outbox(f"meeting:{meeting.id}:nudge:") == []


# --- closing --------------------------------------------------------------------------------


def test_the_deadline_closes_the_poll_and_the_chair_gets_one_pick(db: Database) -> None:
    w = meeting_world(db)
    meeting, _ = propose(w)
    assert meeting.id is not None
    # Time 3 is best (3 Yes), then time 1 (2 Yes, 1 No), then time 2 (2 Yes, 2 No).
    cast(
        w,
        meeting,
        {
            "Wren Halloway": "yny",
            "Corin Ashdale": "yyy",
            "ada Quickfern": "nyy",
            "Elm Rushworth": "-n-",
        },
    )
    assert voting(w).sweep(datetime(2027, 3, 5, 11, 59, tzinfo=UTC))["polls_closed"] == 0
    before = len(w.outbox())
    assert voting(w).sweep(DEADLINE) == {"polls_closed": 1, "nudges": 0}

    picks = w.outbox(pick_key(meeting.id))
    assert [(p.key, p.person_id) for p in picks] == [
        (pick_key(meeting.id), w.person("Juno Chairwell"))
    ]
    pick = reply_from_json(picks[0].payload)
    ids = slot_ids(w, meeting)
    assert [(b.label, b.action_id, b.value, b.style) for b in buttons_of(pick)] == [
        ("Book Thu 11 Mar 2027, 09:00", "slis.meeting.book.3", f"{meeting.id}:{ids[3]}", "primary"),
        (
            "Book Tue 9 Mar 2027, 16:00 instead",
            "slis.meeting.book.1",
            f"{meeting.id}:{ids[1]}",
            None,
        ),
        (
            "Book Wed 10 Mar 2027, 15:30 instead",
            "slis.meeting.book.2",
            f"{meeting.id}:{ids[2]}",
            None,
        ),
    ]
    assert "The best time is *Thu 11 Mar 2027, 09:00–11:00*" in text_of(pick)

    # Every poll card is edited to say voting has closed, without buttons.
    closed = w.outbox(f"meeting:{meeting.id}:poll:")[4:]
    assert w.names(c.person_id for c in closed) == set(CHAT_INVITEES)
    for c in closed:
        assert c.person_id is not None
        assert c.edits_key == poll_key(meeting.id, c.person_id)
        card = reply_from_json(c.payload)
        assert buttons_of(card) == []
        assert "Voting closed on Fri 5 Mar 2027 at 12:00" in text_of(card)
    wren = next(c for c in closed if c.person_id == w.person("Wren Halloway"))
    assert "*2.* Wed 10 Mar 2027, 15:30–17:00: No" in text_of(reply_from_json(wren.payload))
    # The tally card shows the end and the same Book buttons.
    tally = the_tally(w, meeting)
    assert [b.action_id for b in buttons_of(tally)] == [b.action_id for b in buttons_of(pick)]
    assert len(w.outbox()) == before + 1 + 4 + 1

    with w.db.session() as s:
        stored = s.get(Meeting, meeting.id)
        assert stored is not None and stored.state == "polling"
        assert aware(stored.poll_closed_at or DEADLINE.replace(year=1)) == DEADLINE

    # A second sweep, and later ones, send nothing more.
    assert voting(w).sweep(DEADLINE) == {"polls_closed": 0, "nudges": 0}
    assert voting(w).sweep(datetime(2027, 3, 8, 9, 0, tzinfo=UTC))["polls_closed"] == 0
    assert len(w.outbox()) == before + 6


def test_the_chair_closes_the_poll_early(db: Database) -> None:
    w = meeting_world(db)
    meeting, _ = propose(w)
    assert meeting.id is not None
    cast(w, meeting, {"Wren Halloway": "nyy", "Corin Ashdale": "-y-"})
    with pytest.raises(Forbidden):
        voting(w).press(w.actor("Wren Halloway"), "close", str(meeting.id))
    with pytest.raises(NotFound):
        voting(w).press(w.actor("Sol Southgate"), "close", str(meeting.id))

    reply = voting(w).press(w.actor("Juno Chairwell"), "close", str(meeting.id))
    assert isinstance(reply, Reply) and reply.private
    assert [b.action_id for b in buttons_of(reply)] == [
        "slis.meeting.book.2",
        "slis.meeting.book.3",
        "slis.meeting.book.1",
    ]
    # The chair is here: no pick message to notify them; the cards are edited at once.
    assert w.outbox(pick_key(meeting.id)) == []
    closed = [r for r in w.outbox(f"meeting:{meeting.id}:poll:") if r.edits_key]
    assert len(closed) == 4 and all(aware(r.not_before) == w.clock.now() for r in closed)
    with pytest.raises(UserError, match="Voting closed on Mon 1 Mar 2027 at 09:00"):
        vote(w, "ada Quickfern", meeting, 1, "yes")
    # Closing again (or the sweep at the deadline) changes nothing.
    count = len(w.outbox())
    again = voting(w).press(w.actor("Juno Chairwell"), "close", str(meeting.id))
    assert isinstance(again, Reply) and buttons_of(again) == buttons_of(reply)
    assert voting(w).sweep(DEADLINE)["polls_closed"] == 0
    assert len(w.outbox()) == count


def test_an_la_officer_may_close_and_see_the_tally_an_invitee_may_not(db: Database) -> None:
    w = meeting_world(db)
    meeting, _ = propose(w)
    assert meeting.id is not None
    assert (
        "Poll for West quadrant" in voting(w).tally(w.actor("Juno Chairwell"), "m-2027-0001").text
    )
    with pytest.raises(Forbidden):
        voting(w).tally(w.actor("Wren Halloway"), "M-2027-0001")
    reply = voting(w).press(w.actor("Kit Officer"), "close", str(meeting.id))
    assert isinstance(reply, Reply) and len(buttons_of(reply)) == 3
    # Once closed, the tally offers the Book buttons instead of Close.
    tally = voting(w).tally(w.actor("Juno Chairwell"), "M-2027-0001")
    assert next(b.action_id for b in buttons_of(tally)).startswith("slis.meeting.book.")


def test_a_booked_meetings_poll_cannot_be_closed(db: Database) -> None:
    w = meeting_world(db)
    meeting, _ = propose(w)
    with w.db.session() as s:
        stored = s.get(Meeting, meeting.id)
        assert stored is not None
        stored.state = "booked"
        s.add(stored)
    with pytest.raises(UserError, match="is booked"):
        voting(w).press(w.actor("Juno Chairwell"), "close", str(meeting.id))
    assert voting(w).sweep(DEADLINE)["polls_closed"] == 0


# --- tenants --------------------------------------------------------------------------------


def test_another_local_authority_cannot_touch_the_poll(db: Database) -> None:
    w = meeting_world(db)
    meeting, _ = propose(w)
    other = make_place(db, la_code=882, name="Other County")
    other.quadrant("North")
    other.person("Oona Elsewhere", (Role.LA_OFFICER, ScopeKind.COUNTY, 0))
    outsider = MeetingWorld(other, w.clock, w.calendars).actor("Oona Elsewhere")
    value = f"{meeting.id}:{slot_ids(w, meeting)[1]}:yes"
    with pytest.raises(NotFound):
        voting(w).press(outsider, "vote.1.yes", value)
    with pytest.raises(NotFound):
        voting(w).press(outsider, "close", str(meeting.id))
    with pytest.raises(NotFound):
        voting(w).tally(outsider, "M-2027-0001")
    assert voting(w).sweep(DEADLINE)["polls_closed"] == 1
    assert {r.tenant_id for r in w.outbox()} == {w.tenant_id}
