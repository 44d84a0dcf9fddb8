"""`/slis` end to end: signed requests to the real ASGI app, answers rendered as Block Kit."""

from __future__ import annotations

from sqlmodel import select

from bot.core import Core
from bot.types import ChatUser, Platform
from handlers.slack import render
from storage.models import ChatIdentity
from tests.slack.directory import (
    CHAIR,
    ESSEX_TEAM,
    GREAT_OAKLEY,
    HEAD,
    STRANGER,
    SUFFOLK_HEAD,
    SUFFOLK_TEAM,
    UNA,
    UNA_EMAIL,
    UNMAPPED_TEAM,
)
from tests.slack.harness import SlackHarness, all_text


def headers(message: dict[str, object]) -> list[str]:
    return [b["text"]["text"] for b in message["blocks"] if b["type"] == "header"]  # type: ignore[attr-defined,index]


def fields(message: dict[str, object]) -> dict[str, str]:
    out: dict[str, str] = {}
    for block in message["blocks"]:  # type: ignore[attr-defined]
        for field in block.get("fields", []):
            label, _, value = field["text"].partition("\n")
            out[label.strip("*")] = value
    return out


async def test_help_for_a_linked_head_lists_her_commands_privately(slack: SlackHarness) -> None:
    message = await slack.reply("help")
    assert message["response_type"] == "ephemeral"
    assert headers(message) == ["What you can ask me"]
    text = all_text(message)
    # Usage placeholders reach Slack escaped, so they show as typed.
    for usage in ("help", "whoami", "school &lt;URN or name&gt;", "partnership &lt;name&gt;"):
        assert f"`/slis {usage}`" in text
    assert message["text"].startswith("Commands: help, whoami, school")
    # Bolt checks the token with auth.test on its first request; she is linked, so no lookup.
    assert slack.fake.methods() == ["auth.test"]
    assert slack.fake.calls_to("auth.test")[0].token.startswith("xoxb-")


async def test_the_ack_is_exactly_the_rendered_core_reply(slack: SlackHarness) -> None:
    core = Core(slack.db)
    actor = await core.identify(ChatUser(Platform.SLACK, ESSEX_TEAM, HEAD))
    for text in ("help", "whoami", "school Oak", "quadrant north east"):
        expected = render.message(await core.command(actor, text))
        assert await slack.reply(text) == expected


async def test_empty_text_is_help(slack: SlackHarness) -> None:
    assert headers(await slack.reply("")) == ["What you can ask me"]


async def test_whoami_names_the_person_and_her_roles(slack: SlackHarness) -> None:
    message = await slack.reply("whoami", user=CHAIR)
    text = all_text(message)
    assert "You are *Chris Chalk* in the Essex directory." in text
    assert "• Headteacher, Colne Community School" in text
    assert "• Quadrant chair, North East" in text


async def test_school_by_urn(slack: SlackHarness) -> None:
    message = await slack.reply(f"school {GREAT_OAKLEY}")
    assert headers(message) == ["Great Oakley Primary School"]
    assert fields(message) == {
        "URN": "115141",
        "Phase": "Primary",
        "Type": "Community school",
        "Status": "Open",
        "Headteacher": "Alice Hart",
        "Quadrant": "North East",
    }
    text = all_text(message)
    assert "• Colne Valley Partnership" in text
    assert "*North East quadrant chair:* Chris Chalk" in text
    assert "*Tendring Teaching School Alliance* (lead school: Colne Community School)" in text


async def test_school_by_partial_name_with_one_match(slack: SlackHarness) -> None:
    message = await slack.reply("school great oakley")
    assert headers(message) == ["Great Oakley Primary School"]


async def test_school_by_partial_name_with_several_matches(slack: SlackHarness) -> None:
    message = await slack.reply("school Oak")
    text = all_text(message)
    assert "2 schools match “Oak”. Which one?" in text
    assert "• Great Oakley Primary School — URN 115141" in text
    assert "• Oakwood Infant School — URN 114880" in text
    assert "Ipswich" not in text  # Suffolk's school is not Essex's business


async def test_unknown_urn_is_a_private_error(slack: SlackHarness) -> None:
    message = await slack.reply("school 999999")
    assert message["response_type"] == "ephemeral"
    assert "No school with URN 999999 in Essex." in all_text(message)


async def test_partnership(slack: SlackHarness) -> None:
    message = await slack.reply("partnership colne valley")
    assert headers(message) == ["Colne Valley Partnership"]
    assert fields(message) == {
        "Kind": "SLIS cluster",
        "Quadrant": "North East",
        "Lead": "Pat Lee",
        "Quadrant chair": "Chris Chalk",
    }
    text = all_text(message)
    assert "*Member schools (3)*" in text
    assert "• Oakwood Infant School — URN 114880" in text


async def test_quadrant_shows_chair_partnerships_and_alliances(slack: SlackHarness) -> None:
    message = await slack.reply("quadrant North East")
    assert headers(message) == ["North East quadrant"]
    assert fields(message)["Chair"] == "Chris Chalk"
    assert fields(message)["Schools"] == "3"
    text = all_text(message)
    assert "• *Colne Valley Partnership* — 3 schools, lead Pat Lee" in text
    assert "*Teaching School Alliances serving it*" in text
    assert "• *Tendring Teaching School Alliance* (lead school: Colne Community School)" in text


async def test_unknown_subcommand_gets_usage_and_a_suggestion(slack: SlackHarness) -> None:
    message = await slack.reply("shcool 123")
    assert message["response_type"] == "ephemeral"
    text = all_text(message)
    assert "I don't know `/slis shcool`." in text
    assert "Did you mean `/slis school`?" in text
    assert "*You can use*\n• /slis help\n• /slis whoami\n• /slis school" in text


async def test_unlinked_user_is_linked_by_her_slack_email(slack: SlackHarness) -> None:
    slack.fake.emails[UNA] = UNA_EMAIL.upper()
    message = await slack.reply("whoami", user=UNA)
    assert "You are *Una Linked* in the Essex directory." in all_text(message)
    [lookup] = slack.fake.calls_to("users.info")
    assert lookup.params["user"] == UNA
    with slack.db.session() as s:
        identity = s.exec(select(ChatIdentity).where(ChatIdentity.user_id == UNA)).one()
    assert (identity.source, identity.workspace_id, identity.platform) == (
        "email",
        ESSEX_TEAM,
        "slack",
    )
    # Linked now: the next request needs no profile lookup.
    await slack.reply("whoami", user=UNA)
    assert len(slack.fake.calls_to("users.info")) == 1


async def test_user_without_a_match_is_told_how_to_get_linked(slack: SlackHarness) -> None:
    slack.fake.emails[STRANGER] = "someone@elsewhere.example"
    message = await slack.reply("whoami", user=STRANGER)
    text = all_text(message)
    assert "I couldn't match you to anyone in the Essex directory." in text
    assert STRANGER in text
    with slack.db.session() as s:
        assert s.exec(select(ChatIdentity).where(ChatIdentity.user_id == STRANGER)).first() is None


async def test_user_slack_does_not_know_is_not_matched(slack: SlackHarness) -> None:
    message = await slack.reply("whoami", user="U0GHOST")  # users.info: user_not_found
    assert "I couldn't match you" in all_text(message)
    assert [c.params["user"] for c in slack.fake.calls_to("users.info")] == ["U0GHOST"]


async def test_rate_limited_profile_lookup_is_answered_not_crashed(slack: SlackHarness) -> None:
    slack.fake.emails[UNA] = UNA_EMAIL
    slack.fake.fail("users.info", status=429, retry_after=30)
    message = await slack.reply("whoami", user=UNA)
    assert "I couldn't match you" in all_text(message)


async def test_unmapped_workspace_is_told_so(slack: SlackHarness) -> None:
    message = await slack.reply("whoami", user="U0ANY", team=UNMAPPED_TEAM)
    text = all_text(message)
    assert "This workspace is not linked to a local authority yet." in text
    assert UNMAPPED_TEAM in text
    assert slack.fake.calls_to("users.info") == []


async def test_help_in_an_unmapped_workspace_still_answers(slack: SlackHarness) -> None:
    message = await slack.reply("help", user="U0ANY", team=UNMAPPED_TEAM)
    assert "`/slis help`" in all_text(message)
    assert "school" not in message["text"]


async def test_another_tenants_user_cannot_see_essex_schools(slack: SlackHarness) -> None:
    message = await slack.reply(f"school {GREAT_OAKLEY}", user=SUFFOLK_HEAD, team=SUFFOLK_TEAM)
    assert "No school with URN 115141 in Suffolk." in all_text(message)
    message = await slack.reply("school Oak", user=SUFFOLK_HEAD, team=SUFFOLK_TEAM)
    assert headers(message) == ["Ipswich Oak Primary"]
    message = await slack.reply("quadrant North East", user=SUFFOLK_HEAD, team=SUFFOLK_TEAM)
    assert "No quadrant called “North East” in Suffolk." in all_text(message)


async def test_essex_user_id_in_another_workspace_is_not_the_essex_person(
    slack: SlackHarness,
) -> None:
    message = await slack.reply("whoami", user=HEAD, team=SUFFOLK_TEAM)
    assert "Alice Hart" not in all_text(message)
    assert "I couldn't match you to anyone in the Suffolk directory." in all_text(message)


async def test_other_slash_commands_get_a_pointer_to_slis(slack: SlackHarness) -> None:
    response = await slack.command("anything", command="/weather")
    assert response.status_code == 200
    message = response.json()
    assert message["response_type"] == "ephemeral"
    assert all_text(message) == "I only answer `/slis` — try `/slis help`."
