"""The `/slis` router: the registration table, permissions, usage and suggestions."""

from __future__ import annotations

import logging

import pytest

from bot.authorisation import Allow, Entry, Kind, Relation
from bot.commands import Command, CommandRouter
from bot.core import Core
from bot.types import Actor, ChatUser, Grant, Paragraph, Platform, Reply, Role, ScopeKind
from storage.engine import Database
from tests.factories import World, build_world

HEAD = Actor(
    ChatUser(Platform.SLACK, "T1", "U1"),
    1,
    "Essex",
    7,
    "Ada",
    (Grant(Role.HEAD, ScopeKind.SCHOOL, 3, "A School"),),
)
OFFICER = Actor(
    ChatUser(Platform.SLACK, "T1", "U2"),
    1,
    "Essex",
    8,
    "Dan",
    (Grant(Role.LA_OFFICER, ScopeKind.COUNTY, None, ""),),
)
STRANGER = Actor(ChatUser(Platform.SLACK, "T1", "U3"), 1, "Essex", None, None)


def _texts(reply: Reply) -> str:
    """Every word a reply shows, whatever its block type."""
    parts: list[str] = []
    for block in reply.blocks:
        for value in vars(block).values():
            if isinstance(value, str):
                parts.append(value)
            elif isinstance(value, tuple):
                parts.extend(" ".join(v) if isinstance(v, tuple) else str(v) for v in value)
    return "\n".join(parts)


def _router() -> CommandRouter:
    def boom(_a: Actor, _t: str) -> Reply:
        raise RuntimeError("database on fire")

    return CommandRouter(
        [
            Command(
                "echo",
                "says it back",
                "echo <text>",
                ("echo hi",),
                lambda _a, t: Reply(t, (Paragraph(t),)),
            ),
            Command(
                "launch",
                "officers only",
                "launch",
                ("launch",),
                lambda _a, _t: Reply("ok"),
            ),
            Command("boom", "fails", "boom", ("boom",), boom),
        ],
        {
            (Kind.COMMAND, e.key): e
            for e in (
                Entry(Kind.COMMAND, "help", "see help", (Allow(relation=Relation.ANYONE),)),
                Entry(Kind.COMMAND, "echo", "echo", (Allow(relation=Relation.LINKED),)),
                Entry(
                    Kind.COMMAND,
                    "launch",
                    "launch",
                    (Allow(Role.LA_OFFICER), Allow(Role.BOARD_MEMBER)),
                ),
                Entry(Kind.COMMAND, "boom", "fail", (Allow(relation=Relation.LINKED),)),
            )
        },
    )


def test_help_lists_only_what_the_callers_roles_allow() -> None:
    router = _router()
    head_help = _texts(router.dispatch(HEAD, "help"))
    assert "/slis echo <text>" in head_help and "/slis launch" not in head_help
    assert "/slis launch" in _texts(router.dispatch(OFFICER, ""))
    stranger_help = router.dispatch(STRANGER, "help")
    assert "/slis echo" not in _texts(stranger_help) and "match you" in _texts(stranger_help)


def test_arguments_reach_the_command() -> None:
    assert _router().dispatch(HEAD, "ECHO  hello there ").text == "hello there"


def test_forbidden_says_who_may() -> None:
    reply = _router().dispatch(HEAD, "launch")
    assert reply.is_error and reply.private
    assert "Only LA officers and Project Board members may launch." in reply.text


def test_unknown_subcommand_gets_usage_and_a_suggestion() -> None:
    reply = _router().dispatch(HEAD, "ecoh hi")
    assert reply.is_error
    text = _texts(reply)
    assert "I don't know `/slis ecoh`" in text and "Did you mean `/slis echo`?" in text
    assert "/slis help" in text


def test_unexpected_error_shows_only_a_reference(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        reply = _router().dispatch(HEAD, "boom")
    assert "database on fire" not in reply.text and "reference" in reply.text
    ref = reply.text.split("reference ")[1][:8]
    assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)


def test_unlinked_user_is_told_how_to_get_linked() -> None:
    reply = _router().dispatch(STRANGER, "echo x")
    assert reply.is_error and "U3" in reply.text and "LA administrator" in reply.text


@pytest.fixture
def world(db: Database) -> World:
    return build_world(db)


def test_real_commands_end_to_end_in_the_core(db: Database, world: World) -> None:
    core = Core(db)
    ada = core.identity.actor_for(world.users["ada.head@schools.example.org"])
    assert "Headteacher, All Saints" in _texts(core.router.dispatch(ada, "whoami"))
    school = core.router.dispatch(ada, "school 115141")
    assert school.text == "All Saints Primary School, Great Oakley (URN 115141)"
    missing = core.router.dispatch(ada, "school 999")
    assert missing.is_error and "Usage: `/slis school <URN or name>`" in _texts(missing)
    assert "Cara Madeup" in _texts(core.router.dispatch(ada, "quadrant north east"))
    assert "Ben Imaginary" in _texts(core.router.dispatch(ada, "partnership tendring"))
