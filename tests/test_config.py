"""Settings: read once, fail fast with every problem named, never show a secret."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, SlackMode, load_settings
from storage.engine import normalise_url
from tests.netguard import NetworkAccessError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "SLACK_CLIENT_ID",
        "SLACK_CLIENT_SECRET",
        "DATABASE_URL",
        "SLIS_TIMEZONE",
        "SLIS_DEFAULT_LA_CODE",
        "GRAPH_TENANT_ID",
        "GRAPH_CLIENT_ID",
        "GRAPH_CLIENT_SECRET",
        "GRAPH_LA_CODES",
        "GRAPH_API_URL",
        "SLIS_SANDBOX",
        "HOST",
        "TEAMS_APP_ID",
        "TEAMS_APP_PASSWORD",
        "TEAMS_TENANT_ID",
        "TEAMS_CERTIFICATE_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no developer's .env


def test_defaults_run_on_an_embedded_sqlite_file_without_slack() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///slis.db"
    assert settings.sqlite_path() == Path("slis.db")
    assert settings.slack() is None
    assert (settings.host, settings.port, settings.slis_timezone) == (
        "127.0.0.1",
        3000,
        "Europe/London",
    )


def test_http_and_socket_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-abc")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "shh")
    http = load_settings().slack()
    assert http is not None and http.mode is SlackMode.HTTP
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-abc")
    socket_mode = load_settings().slack()
    assert socket_mode is not None and socket_mode.mode is SlackMode.SOCKET
    assert "xoxb" not in repr(socket_mode) and "shh" not in repr(load_settings())


def test_every_slack_problem_is_named_in_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_APP_TOKEN", "xoxp-user-token")
    monkeypatch.setenv("SLACK_CLIENT_ID", "123.456")
    with pytest.raises(ConfigError) as raised:
        load_settings().slack()
    message = str(raised.value)
    assert "SLACK_BOT_TOKEN is missing" in message
    assert "SLACK_APP_TOKEN must be an app-level token" in message
    assert "SLACK_CLIENT_ID" in message
    assert "xoxp-user-token" not in message


def test_a_wrong_kind_of_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxp-user-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "shh")
    with pytest.raises(ConfigError, match="starting with xoxb-"):
        load_settings().slack()


def test_blank_values_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "  ")
    assert load_settings().slack() is None


def test_dotenv_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=3999\nSLIS_DEFAULT_LA_CODE=881\n")
    settings = load_settings()
    assert settings.port == 3999 and settings.slis_default_la_code == 881


def test_a_short_anonymity_pepper_is_refused_and_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLIS_ANONYMITY_PEPPER", "too-short")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "SLIS_ANONYMITY_PEPPER" in str(raised.value) and "too-short" not in str(raised.value)
    monkeypatch.setenv("SLIS_ANONYMITY_PEPPER", "p" * 48)
    assert "ppp" not in repr(load_settings())


def test_malformed_values_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIS_TIMEZONE", "Europe/Chelmsford")
    monkeypatch.setenv("PORT", "three thousand")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "SLIS_TIMEZONE" in str(raised.value) and "PORT" in str(raised.value)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("sqlite:///slis.db", "sqlite:///slis.db"),
        ("postgresql://slis@db/slis", "postgresql+psycopg://slis@db/slis"),
        ("postgres://slis:pw@db/slis", "postgresql+psycopg://slis:pw@db/slis"),
        ("postgresql+psycopg://slis@db/slis", "postgresql+psycopg://slis@db/slis"),
    ],
)
def test_database_urls_take_the_plain_forms(given: str, used: str) -> None:
    assert normalise_url(given) == used
    assert (Settings(database_url=given).sqlite_path() is None) == given.startswith("postgres")


def test_other_databases_are_refused_with_the_forms_to_use() -> None:
    with pytest.raises(ValueError, match="postgresql://"):
        normalise_url("mysql://root@localhost/slis")


def test_the_network_guard_refuses_anything_but_loopback() -> None:
    with pytest.raises(NetworkAccessError):
        socket.create_connection(("slack.com", 443), timeout=1)
    with pytest.raises(NetworkAccessError), socket.socket() as s:
        s.connect(("192.0.2.1", 443))


def test_graph_is_off_unless_configured_and_never_shows_its_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().graph() is None
    monkeypatch.setenv("GRAPH_TENANT_ID", "contoso.onmicrosoft.com")
    monkeypatch.setenv("GRAPH_CLIENT_ID", "11111111-2222-3333-4444-555555555555")
    monkeypatch.setenv("GRAPH_CLIENT_SECRET", "very-secret-value")
    graph = load_settings().graph()
    assert graph is not None
    assert graph.la_codes is None  # every local authority
    assert graph.api_url == "https://graph.microsoft.com/v1.0"
    assert "very-secret-value" not in repr(graph) + repr(load_settings())
    monkeypatch.setenv("GRAPH_LA_CODES", "881, 935")
    graph = load_settings().graph()
    assert graph is not None and graph.la_codes == frozenset({881, 935})


def test_every_graph_problem_is_named_in_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPH_CLIENT_ID", "11111111-2222-3333-4444-555555555555")
    monkeypatch.setenv("GRAPH_LA_CODES", "881,Essex")
    monkeypatch.setenv("GRAPH_API_URL", "http://graph.example.org")
    with pytest.raises(ConfigError) as raised:
        load_settings().graph()
    message = str(raised.value)
    for expected in (
        "GRAPH_TENANT_ID is missing",
        "GRAPH_CLIENT_SECRET is missing",
        "'Essex' is not an LA code",
        "GRAPH_API_URL must be an https:// address",
    ):
        assert expected in message


# --- the local sandbox -------------------------------------------------------------------------


def real_slack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-real-workspace")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "real-secret")


def test_the_sandbox_is_on_by_default_with_no_chat_credentials() -> None:
    plan = load_settings().sandbox()
    assert plan is not None
    assert (plan.port, plan.replaces_slack, plan.may_reset) == (3000, False, True)
    assert plan.page_url == "http://127.0.0.1:3000/sandbox"
    assert plan.slack_api_url == "http://127.0.0.1:3000/sandbox/slack/api/"


def test_the_sandbox_never_stands_in_for_real_slack_unless_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_slack(monkeypatch)
    assert load_settings().sandbox() is None
    refusal = load_settings().sandbox_refusal()
    assert refusal is not None and "real Slack credentials are set" in refusal
    assert "SLIS_SANDBOX=on" in refusal and "xoxb-real" not in refusal
    monkeypatch.setenv("SLIS_SANDBOX", "on")
    plan = load_settings().sandbox()
    assert plan is not None and plan.replaces_slack and not plan.may_reset
    assert load_settings().sandbox_refusal() is None


def test_the_sandbox_is_off_by_default_where_teams_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEAMS_APP_ID", "00000000-0000-0000-0000-000000000001")
    monkeypatch.setenv("TEAMS_APP_PASSWORD", "a-password")
    monkeypatch.setenv("TEAMS_TENANT_ID", "00000000-0000-0000-0000-000000000002")
    assert load_settings().sandbox() is None
    monkeypatch.setenv("SLIS_SANDBOX", "on")
    plan = load_settings().sandbox()
    # Reset would wipe what the Teams side holds, so it is not offered.
    assert plan is not None and not plan.replaces_slack and not plan.may_reset


def test_the_sandbox_listens_on_127_0_0_1_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOST", "0.0.0.0")  # noqa: S104 - the address being refused
    assert load_settings().sandbox() is None
    monkeypatch.setenv("SLIS_SANDBOX", "on")
    with pytest.raises(ConfigError, match=r"listens on 127\.0\.0\.1 only"):
        load_settings().sandbox()
    monkeypatch.setenv("HOST", "localhost")
    with pytest.raises(ConfigError, match=r"HOST=127\.0\.0\.1"):
        load_settings().sandbox()


@pytest.mark.parametrize(
    ("given", "switch"),
    [
        ("on", "on"),
        ("ON", "on"),
        ("true", "on"),
        ("1", "on"),
        ("off", "off"),
        ("no", "off"),
        ("", "auto"),
        ("auto", "auto"),
    ],
)
def test_the_sandbox_switch_takes_the_usual_words(
    monkeypatch: pytest.MonkeyPatch, given: str, switch: str
) -> None:
    monkeypatch.setenv("SLIS_SANDBOX", given)
    assert load_settings().slis_sandbox.value == switch


def test_an_unknown_sandbox_switch_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIS_SANDBOX", "maybe")
    with pytest.raises(ConfigError, match="SLIS_SANDBOX"):
        load_settings()


def test_sandbox_credentials_are_fresh_for_each_process_and_never_shown() -> None:
    plan = load_settings().sandbox()
    assert plan is not None
    one, two = plan.slack_credentials(), plan.slack_credentials()
    assert one.bot_token.startswith("xoxb-sandbox-") and one.bot_token != two.bot_token
    assert one.signing_secret and one.signing_secret != two.signing_secret
    assert one.bot_token not in repr(one) and (one.signing_secret or "") not in repr(one)
