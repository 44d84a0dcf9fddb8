"""'Offer support' by a flagged partnership in a healthcheck report, and the 'Ask for support'
it sends the partnership's leads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from bot.core import Core
from bot.errors import Forbidden, UserError
from bot.form_flow import ShowPage
from bot.replies.healthcheck_report import SUGGEST_ACTION, offer_buttons
from bot.reply_codec import reply_from_json
from bot.services.healthcheck.report import Flag
from bot.services.support.suggest import ASK_ACTION
from bot.types import Actions, Actor, Reply
from storage.engine import Database
from storage.outbox_tables import OutboxMessage
from tests.factories import World, build_world
from tests.fakes.clock import FakeClock

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday, in the sending hours
TENDRING = "Tendring Coast Partnership"  # North East; led by Ben
HARLOW = "Harlow Learning Trust"  # West; no lead
REASON = "Trust: the mean fell from 2.75 to 1.75 since round #1"


@pytest.fixture
def world(db: Database) -> World:
    return build_world(db)


@pytest.fixture
def core(db: Database) -> Core:
    return Core(db, clock=FakeClock(NOW))


def actor(core: Core, world: World, email: str) -> Actor:
    return core.identity.actor_for(world.users[email])


def rows(db: Database) -> list[OutboxMessage]:
    with db.session() as s:
        return list(s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


def press(core: Core, who: Actor, action: str, value: str) -> ShowPage | Reply:
    return core.support_actions.press(who, action, value)


def test_a_chair_offers_support_and_the_lead_is_told_once_a_day(
    core: Core, world: World, db: Database
) -> None:
    chair = actor(core, world, "cara.chair@schools.example.org")
    tendring = world.partnerships[TENDRING]
    done = press(core, chair, f"suggest:{tendring}", f"{tendring}|{REASON}")
    assert isinstance(done, Reply) and not done.is_error
    assert "Ben Imaginary will get a message" in done.text
    [row] = rows(db)
    assert row.person_id == world.people["ben.lead@schools.example.org"]
    message = reply_from_json(row.payload)
    assert "Cara Madeup suggests support for *Tendring Coast Partnership*" in str(message.blocks)
    assert REASON in str(message.blocks)
    [button] = next(b for b in message.blocks if isinstance(b, Actions)).buttons
    assert (button.action_id, button.value) == (ASK_ACTION, REASON)
    again = press(core, chair, f"suggest:{tendring}", f"{tendring}|{REASON}")
    assert isinstance(again, Reply) and "already been offered support today" in again.text
    assert len(rows(db)) == 1


def test_the_lead_asks_through_the_form_filled_in_with_what_was_seen(
    core: Core, world: World
) -> None:
    ben = actor(core, world, "ben.lead@schools.example.org")
    step = press(core, ben, "ask", REASON)
    assert isinstance(step, ShowPage)
    assert step.form.callback_id == "slis.support.ask"
    assert step.values["needed"] == f"Following our healthcheck: {REASON}"


def test_who_may_offer_support(core: Core, world: World, db: Database) -> None:
    harlow = world.partnerships[HARLOW]
    chair = actor(core, world, "cara.chair@schools.example.org")  # North East only
    with pytest.raises(Forbidden, match="quadrant chairs"):
        core.support_actions.suggestions.suggest(chair, harlow, REASON)
    eve = actor(core, world, "eve.alliance@schools.example.org")
    with pytest.raises(Forbidden):
        core.support_actions.suggestions.suggest(eve, world.partnerships[TENDRING], REASON)
    officer = actor(core, world, "dan.officer@la.example.org")  # the whole county
    with pytest.raises(UserError, match="no partnership lead"):
        core.support_actions.suggestions.suggest(officer, harlow, REASON)
    assert rows(db) == []


def test_report_buttons_only_for_readers_who_may_offer() -> None:
    flags = (
        Flag(1, "Alpha", "red check-in", "rag", can_offer_support=True),
        Flag(2, "Beta", "fell", "trust", can_offer_support=True),
        Flag(2, "Beta", "red check-in", "rag", can_offer_support=True),
        Flag(3, "Gamma", "fell", "trust"),
    )
    buttons = offer_buttons(flags)
    assert [b.label for b in buttons] == ["Offer support: Beta", "Offer support: Alpha"]
    assert [b.action_id for b in buttons] == [f"{SUGGEST_ACTION}:2", f"{SUGGEST_ACTION}:1"]
    assert buttons[0].value == "2|fell; red check-in"
    assert offer_buttons(flags[3:]) == ()
