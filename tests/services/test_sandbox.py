"""What the sandbox reads from the directory, its school mornings, and its Reset."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func
from sqlmodel import select

from bot.core import Core
from bot.ports import SystemClock
from bot.services.calendar import CalendarService, load_sample_calendar
from bot.services.directory_import import load_sample
from bot.services.sandbox import (
    FALLBACK_WORKSPACE,
    SandboxService,
    channel_name,
    sandbox_user_id,
)
from bot.types import ChatUser, Platform
from storage.engine import Database
from storage.models import ChatIdentity, Person, Quadrant
from storage.reminder_tables import Reminder

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def sandbox(db: Database) -> SandboxService:
    load_sample(db, SystemClock())
    load_sample_calendar(db)
    return SandboxService(db, SystemClock(), CalendarService(db))


def forget_slack_id(db: Database, name: str) -> None:
    """As if the directory file gave this person no Slack id."""
    with db.session() as s:
        person = s.exec(select(Person).where(Person.name == name)).one()
        for link in s.exec(select(ChatIdentity).where(ChatIdentity.person_id == person.id)):
            s.delete(link)
        s.commit()


def count(db: Database, table: type) -> int:
    with db.session() as s:
        return int(s.exec(select(func.count()).select_from(table)).one())


def test_it_plays_the_sample_workspace_of_essex(sandbox: SandboxService) -> None:
    workspace = sandbox.workspace()
    assert (workspace.team_id, workspace.name, workspace.la_code) == (
        "T0SAMPLE1",
        "Essex SLIS (sample)",
        881,
    )
    assert workspace.zone == LONDON


def test_an_empty_directory_gives_a_stand_in_workspace_with_nobody(db: Database) -> None:
    sandbox = SandboxService(db, SystemClock(), CalendarService(db))
    workspace = sandbox.workspace()
    assert workspace.team_id == FALLBACK_WORKSPACE and workspace.la_code is None
    assert sandbox.people(workspace) == [] and sandbox.channels(workspace) == []


def test_people_come_with_their_roles_in_words_and_a_slack_id(
    sandbox: SandboxService, db: Database
) -> None:
    people = sandbox.people(sandbox.workspace())
    assert len(people) == count(db, Person) == 63
    assert [p.name for p in people] == sorted(p.name for p in people)
    ada = next(p for p in people if p.name == "Ada Applethwaite")
    assert ada.user_id == "U0SAMPLE01"  # her Slack id in the directory file
    assert ada.roles == (
        "Headteacher, Ashdon Primary School",
        "Partnership lead, Kingfisher Cluster",
        "Quadrant chair, West",
        "Project Board member",
    )
    assert all(p.user_id.startswith("U0SAMPLE") for p in people)  # all in the directory file
    assert len({p.user_id for p in people}) == len(people)

    forget_slack_id(db, "Faye Larkworthy")
    faye = next(p for p in sandbox.people(sandbox.workspace()) if p.name == "Faye Larkworthy")
    # No Slack id in the directory: a stable one from her e-mail, which the bot links her by.
    assert faye.user_id == sandbox_user_id("faye.larkworthy@schools.example.org")
    assert faye.user_id == sandbox_user_id(" Faye.Larkworthy@Schools.Example.org")
    leads = [
        p for p in people if any(r.startswith("Teaching School Alliance lead") for r in p.roles)
    ]
    assert len(leads) == 6


def test_the_quadrant_channels_are_those_the_directory_names(
    sandbox: SandboxService, db: Database
) -> None:
    channels = sandbox.channels(sandbox.workspace())
    assert [(c.channel_id, c.name) for c in channels] == [
        ("C0MIDQ", "mid-quadrant"),
        ("C0NORTHEASTQ", "north-east-quadrant"),
        ("C0SOUTHQ", "south-quadrant"),
        ("C0WESTQ", "west-quadrant"),
    ]
    assert channel_name("North East") == "north-east-quadrant"
    with db.session() as s:
        assert all(q.channel_platform == "slack" for q in s.exec(select(Quadrant)).all())


@pytest.mark.parametrize(
    ("after", "morning"),
    [
        # A Tuesday afternoon: Wednesday.
        (datetime(2026, 11, 24, 15, 0, tzinfo=UTC), datetime(2026, 11, 25, 8, 0, tzinfo=LONDON)),
        # Before eight on a school day: that day's eight o'clock.
        (datetime(2026, 11, 24, 6, 0, tzinfo=UTC), datetime(2026, 11, 24, 8, 0, tzinfo=LONDON)),
        # At eight: the next school day's.
        (datetime(2026, 11, 24, 8, 0, tzinfo=UTC), datetime(2026, 11, 25, 8, 0, tzinfo=LONDON)),
        # A Saturday night: Monday.
        (datetime(2026, 11, 28, 23, 0, tzinfo=UTC), datetime(2026, 11, 30, 8, 0, tzinfo=LONDON)),
        # A Friday: Monday.
        (datetime(2026, 11, 27, 10, 0, tzinfo=UTC), datetime(2026, 11, 30, 8, 0, tzinfo=LONDON)),
        # The last day of the autumn term: the first day of the spring term.
        (datetime(2026, 12, 18, 10, 0, tzinfo=UTC), datetime(2027, 1, 4, 8, 0, tzinfo=LONDON)),
    ],
)
def test_the_next_school_morning_follows_the_school_calendar(
    sandbox: SandboxService, after: datetime, morning: datetime
) -> None:
    assert sandbox.next_school_morning(sandbox.workspace(), after) == morning


def test_reset_restores_the_sample_and_forgets_everything_else(db: Database) -> None:
    load_sample(db, SystemClock())
    load_sample_calendar(db)
    core = Core(db)
    forget_slack_id(db, "Faye Larkworthy")
    faye = ChatUser(Platform.SLACK, "T0SAMPLE1", sandbox_user_id("faye.larkworthy@x"))
    assert core.identity.link_by_email(faye, "faye.larkworthy@schools.example.org").linked
    ada = core.identity.actor_for(ChatUser(Platform.SLACK, "T0SAMPLE1", "U0SAMPLE01"))
    assert not core.router.dispatch(ada, "remind me tomorrow 9am send the return").is_error
    with db.session() as s:
        tess = s.exec(select(Person).where(Person.name == "Tess Dapplegate")).one()
        tess.name = "Tess Renamed"
        s.add(tess)
        s.commit()
    links = count(db, ChatIdentity)
    assert count(db, Reminder) == 1

    core.sandbox.reset()

    assert count(db, Reminder) == 0 and count(db, Person) == 63
    # The e-mail link is gone; the directory file's links (Faye's among them) are back.
    assert count(db, ChatIdentity) == links
    assert not core.identity.actor_for(faye).linked
    names = [p.name for p in core.sandbox.people(core.sandbox.workspace())]
    assert "Tess Dapplegate" in names and "Tess Renamed" not in names
    workspace = core.sandbox.workspace()
    friday = datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert core.sandbox.next_school_morning(workspace, friday) == datetime(
        2026, 11, 30, 8, 0, tzinfo=LONDON
    )


def test_with_no_local_authority_any_weekday_morning_will_do(db: Database) -> None:
    sandbox = SandboxService(db, SystemClock(), CalendarService(db))
    workspace = sandbox.workspace()
    friday_night = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    assert sandbox.next_school_morning(workspace, friday_night) == datetime(
        2026, 11, 30, 8, 0, tzinfo=LONDON
    )
    early = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    assert sandbox.next_school_morning(workspace, early) == datetime(
        2026, 11, 24, 8, 0, tzinfo=LONDON
    )
