"""The registration table: what the Slack adapter answers, and in which order."""

from __future__ import annotations

from handlers.slack.app import OTHER_COMMANDS, SlackHandlers, describe, routes


def table() -> list[tuple[str, str]]:
    handlers = SlackHandlers(core=None, profiles=None)  # type: ignore[arg-type]
    return [
        (r.kind, r.matcher if isinstance(r.matcher, str) else r.matcher.pattern)
        for r in routes(handlers)
    ]


def test_slis_comes_first_and_catch_alls_last_of_their_kind() -> None:
    kinds = table()
    assert kinds[0] == ("command", "/slis")
    events = [m for k, m in kinds if k == "event"]
    assert events[:-1] == ["app_home_opened", "app_mention", "app_uninstalled", "tokens_revoked"]
    assert events[-1] == ".*"
    assert {k for k, _ in kinds} == {"command", "event", "action", "view", "shortcut", "options"}


def test_the_other_commands_listener_never_takes_slis() -> None:
    assert OTHER_COMMANDS.search("/slis") is None
    for other in ("/weather", "/slis-dev", "/hello-world"):
        assert OTHER_COMMANDS.search(other) is not None


def test_describe_names_requests_without_their_content() -> None:
    assert describe({"command": "/slis", "text": "school 115141"}) == "slash command /slis"
    assert describe({"type": "event_callback", "event": {"type": "app_mention", "text": "hi"}}) == (
        "event app_mention"
    )
    assert describe({"type": "block_actions", "actions": [{"action_id": "a", "value": "v"}]}) == (
        "block_actions a"
    )
    assert describe({"type": "view_submission", "view": {"callback_id": "survey"}}) == (
        "view_submission survey"
    )
    assert describe({"type": "shortcut", "callback_id": "new_request"}) == "shortcut new_request"
    assert describe({}) == "request"


def test_command_text_entities_are_decoded_and_mentions_kept() -> None:
    from handlers.slack.app import unescape

    assert unescape("school Smith &amp; Jones") == "school Smith & Jones"
    assert unescape("remind <@U0HEAD|ada> 1 &lt; 2") == "remind <@U0HEAD|ada> 1 < 2"
    assert unescape("&amp;lt;") == "&lt;"
