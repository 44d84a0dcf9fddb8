"""`/slis audit` in chat: LA officers and administrators read the log, filtered in words;
anyone else is told who may; bad filters are answered with the usage; reading is recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from bot.core import Core
from bot.replies import audit as present
from bot.services import audit
from bot.services.audit import AuditListing, AuditQuery, AuditView
from bot.types import Actor, BulletList, Context, Grant, Heading, Reply, Role, ScopeKind
from storage.engine import Database
from storage.privacy_tables import AuditEntry
from tests.factories import World, build_world
from tests.fakes.clock import FakeClock

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
ADA = "ada.head@schools.example.org"
DAN = "dan.officer@la.example.org"


@pytest.fixture
def world(db: Database) -> World:
    w = build_world(db)
    with db.session() as s:
        for hours, action, subject in (
            (30, "meeting.create", "M-2026-0001"),
            (2, "support.claim", "SR-2026-0007"),
        ):
            audit.record(
                s,
                tenant_id=w.tenant_id,
                at=NOW - timedelta(hours=hours),
                action=action,
                subject=subject,
                platform=audit.SYSTEM,
            )
    return w


@pytest.fixture
def core(db: Database) -> Core:
    return Core(db, clock=FakeClock(NOW))


def actor(core: Core, world: World, email: str) -> Actor:
    return core.identity.actor_for(world.users[email])


def text_of(reply: Reply) -> str:
    parts = [reply.text]
    for block in reply.blocks:
        if isinstance(block, BulletList):
            parts.extend(block.items)
        else:
            parts.append(str(getattr(block, "text", "")))
    return "\n".join(parts)


def views(db: Database) -> list[AuditEntry]:
    with db.session() as s:
        return list(
            s.exec(
                select(AuditEntry)
                .where(AuditEntry.action == "audit.view")
                .order_by(col(AuditEntry.id))
            ).all()
        )


def test_an_la_officer_reads_the_log_and_the_reading_is_recorded(
    db: Database, core: Core, world: World
) -> None:
    dan = actor(core, world, DAN)
    reply = core.router.dispatch(dan, "audit")
    assert not reply.is_error and reply.private
    shown = text_of(reply)
    assert "claimed a support request (support.claim) · SR-2026-0007" in shown
    assert shown.index("SR-2026-0007") < shown.index("M-2026-0001")  # newest first
    assert "Europe/London" in shown
    [view] = views(db)
    assert view.actor_person_id == dan.person_id and view.platform == "slack"
    assert view.at.replace(tzinfo=UTC) == NOW


def test_filters_in_words(core: Core, world: World) -> None:
    dan = actor(core, world, DAN)
    shown = text_of(core.router.dispatch(dan, "audit support"))
    assert "SR-2026-0007" in shown and "M-2026-0001" not in shown
    assert "Audit log: support (all)" in shown
    shown = text_of(core.router.dispatch(dan, "audit meeting.create since 2026-11-01"))
    assert "M-2026-0001" in shown and "SR-2026-0007" not in shown
    shown = text_of(core.router.dispatch(dan, "audit since 2026-12-01"))
    assert "No audit entries match since 2026-12-01." in shown


def test_an_administrator_may_read_it(core: Core, world: World) -> None:
    dan = actor(core, world, DAN)
    admin = Actor(
        dan.chat,
        world.tenant_id,
        dan.tenant_name,
        dan.person_id,
        dan.name,
        (Grant(Role.ADMINISTRATOR, ScopeKind.COUNTY, None, ""),),
    )
    reply = core.router.dispatch(admin, "audit")
    assert not reply.is_error and "SR-2026-0007" in text_of(reply)


@pytest.mark.parametrize("email", [ADA, "cara.chair@schools.example.org"])
def test_others_are_told_who_may_and_see_nothing(
    db: Database, core: Core, world: World, email: str
) -> None:
    reply = core.router.dispatch(actor(core, world, email), "audit support")
    assert reply.is_error
    assert reply.text == (
        "Only LA officers for the whole local authority or administrators may read the audit log."
    )
    assert "SR-2026-" not in text_of(reply)
    assert views(db) == []


def test_the_help_lists_audit_for_officers_only(core: Core, world: World) -> None:
    assert "audit" in core.router.dispatch(actor(core, world, DAN), "help").text.split(", ")
    assert "audit" not in core.router.dispatch(actor(core, world, ADA), "help").text


@pytest.mark.parametrize(
    ("words", "says"),
    [
        ("audit gossip", "I don't know the action “gossip”."),
        ("audit since last week", "“last” is not a date"),
        ("audit person nobody@example.org", "Nobody in this directory has the e-mail"),
        ("audit limit 500", "In chat I list up to 100 entries at a time."),
    ],
)
def test_bad_filters_get_a_clear_answer_with_the_usage(
    db: Database, core: Core, world: World, words: str, says: str
) -> None:
    reply = core.router.dispatch(actor(core, world, DAN), words)
    assert reply.is_error and says in reply.text
    assert "Usage: `/slis audit [support|meeting.create|…]" in text_of(reply)
    assert views(db) == []


# --- the pure renderer --------------------------------------------------------------------------


def _view(at: datetime, **kwargs: object) -> AuditView:
    fields: dict[str, object] = {
        "id": 1,
        "at": at,
        "platform": "teams",
        "actor": "Dan Notreal",
        "action": "meeting.cancel",
        "meaning": "cancelled a meeting",
        "subject": "M-2026-0003",
        "about": None,
        "detail": {},
    }
    fields.update(kwargs)
    return AuditView(**fields)  # type: ignore[arg-type]


def test_the_listing_shows_london_time_each_side_of_the_clock_change() -> None:
    summer = _view(datetime(2026, 10, 20, 9, 0, tzinfo=UTC))
    winter = _view(
        datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        platform="cli",
        actor="the command line",
        action="privacy.export",
        meaning="exported a person's data",
        subject="",
        about="Ada Madeup",
    )
    found = AuditListing(AuditQuery(), (winter, summer), audit.ZONE, more=True)
    reply = present.listing(found)
    assert isinstance(reply.blocks[0], Heading) and reply.blocks[0].text == "Audit log"
    bullets = reply.blocks[1]
    assert isinstance(bullets, BulletList)
    assert bullets.items == (
        "Mon 02 Nov 2026 09:00 · cli · the command line exported a person's data"
        " (privacy.export) · about Ada Madeup",
        "Tue 20 Oct 2026 10:00 · teams · Dan Notreal cancelled a meeting (meeting.cancel)"
        " · M-2026-0003",
    )
    note = reply.blocks[2]
    assert isinstance(note, Context) and "Only the newest 2 are shown" in note.text


def test_an_officer_for_one_quadrant_may_not_read_the_whole_log(core: Core, world: World) -> None:
    dan = actor(core, world, DAN)
    west_only = (Grant(Role.LA_OFFICER, ScopeKind.QUADRANT, 1, "West"),)
    local = Actor(dan.chat, world.tenant_id, dan.tenant_name, dan.person_id, dan.name, west_only)
    reply = core.router.dispatch(local, "audit")
    assert reply.is_error and "whole local authority" in reply.text
    assert "SR-2026-" not in text_of(reply)
