"""Settings, read once from the environment (or `.env`) when the process starts."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_GRAPH_API_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_GRAPH_AUTHORITY_URL = "https://login.microsoftonline.com"
# Where the Bot Framework publishes the keys that sign the tokens Teams sends the bot with.
DEFAULT_TEAMS_OPENID_METADATA_URL = (
    "https://login.botframework.com/v1/.well-known/openidconfiguration"
)
DEFAULT_TEAMS_AUTHORITY_URL = "https://login.microsoftonline.com"
LOOPBACK_HTTP = "http://127.0.0.1:"


class ConfigError(Exception):
    """The settings cannot run a bot; the message says every setting to fix."""


class SlackMode(Enum):
    """How the bot talks to Slack, decided by which credentials are present."""

    OFF = "off"
    HTTP = "http"
    SOCKET = "socket"


@dataclass(frozen=True)
class SlackCredentials:
    """A complete Slack configuration (never logged: it holds secrets)."""

    mode: SlackMode
    bot_token: str
    signing_secret: str | None
    app_token: str | None
    api_url: str

    def __repr__(self) -> str:
        return f"SlackCredentials(mode={self.mode.value}, api_url={self.api_url!r})"


class SandboxSwitch(Enum):
    """SLIS_SANDBOX: whether the local sandbox (a Slack of its own, in the browser) runs."""

    AUTO = "auto"  # on when no chat credentials are configured (the quick start)
    ON = "on"  # on, standing in for Slack even where real Slack credentials are set
    OFF = "off"


SWITCH_WORDS = {"1": "on", "true": "on", "yes": "on", "0": "off", "false": "off", "no": "off"}
# The only address the sandbox listens on: it signs requests for anyone who can reach it.
SANDBOX_HOST = "127.0.0.1"
SANDBOX_PATH = "/sandbox"


@dataclass(frozen=True)
class SandboxPlan:
    """The local sandbox is on: a Slack of its own inside this server, at `page_url`.

    `replaces_slack`: real Slack credentials are set and ignored (SLIS_SANDBOX=on).
    `may_reset`: no real chat credentials are configured, so the page's Reset may wipe this
    server's database and load the sample directory again.
    """

    port: int
    replaces_slack: bool
    may_reset: bool

    @property
    def base_url(self) -> str:
        return f"http://{SANDBOX_HOST}:{self.port}"

    @property
    def page_url(self) -> str:
        return self.base_url + SANDBOX_PATH

    @property
    def slack_api_url(self) -> str:
        """Where the bot's Slack Web API client goes in sandbox mode."""
        return f"{self.page_url}/slack/api/"

    def slack_credentials(self) -> SlackCredentials:
        """Credentials for the sandbox's Slack, made fresh for each process (never stored)."""
        return SlackCredentials(
            SlackMode.HTTP,
            "xoxb-sandbox-" + secrets.token_hex(16),
            secrets.token_hex(32),
            None,
            self.slack_api_url,
        )


@dataclass(frozen=True)
class GraphCredentials:
    """An app registration that may write meetings into organisers' Outlook calendars
    (Microsoft Graph, application permission Calendars.ReadWrite); never logged."""

    tenant_id: str
    client_id: str
    client_secret: str
    api_url: str
    authority_url: str
    la_codes: frozenset[int] | None  # None: every local authority this deployment serves

    def __repr__(self) -> str:
        return f"GraphCredentials(tenant_id={self.tenant_id!r}, api_url={self.api_url!r})"


@dataclass(frozen=True)
class TeamsCredentials:
    """The bot's Entra ID app registration for Microsoft Teams (never logged: it holds a
    secret or a private key). Exactly one of `password` and `certificate_pem` is set."""

    app_id: str
    tenant_id: str
    password: str | None
    certificate_pem: str | None
    openid_metadata_url: str
    authority_url: str

    def __repr__(self) -> str:
        return f"TeamsCredentials(app_id={self.app_id!r}, tenant_id={self.tenant_id!r})"


class Settings(BaseSettings):
    """Every setting the bot reads; names match the environment variables."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: str = Field(default="sqlite:///slis.db")
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    # Read only to refuse them: Bolt switches to multi-workspace OAuth when both are set.
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slis_timezone: str = "Europe/London"
    slis_default_la_code: int | None = Field(
        default=None,
        description="Local authority for chat workspaces the directory does not map.",
    )
    # Keys anonymous survey responses so a person can change theirs while the database alone
    # cannot link answer to person. Keep it secret, apart from database backups, and stable
    # while any round is open.
    slis_anonymity_pepper: SecretStr | None = None
    slis_report_min_group: int = Field(
        default=3,
        ge=2,
        description="Smallest group of responses a healthcheck report shows; smaller are hidden.",
    )
    slis_support_catalogues: Path | None = Field(
        default=None,
        description="A folder of support catalogues, one per local authority: <la_code>.yaml."
        " Tenants without one use the shipped catalogue.",
    )
    slis_support_escalate_after: int = Field(
        default=3,
        ge=1,
        le=30,
        description="School days a support request may wait for a claim before it escalates.",
    )
    graph_tenant_id: str | None = Field(
        default=None, description="The Entra ID tenant (directory) of the Graph app registration."
    )
    graph_client_id: str | None = None
    graph_client_secret: SecretStr | None = None
    graph_api_url: str = DEFAULT_GRAPH_API_URL
    graph_authority_url: str = DEFAULT_GRAPH_AUTHORITY_URL
    graph_la_codes: str = Field(
        default="",
        description="Comma-separated LA codes whose meetings go into Outlook calendars through"
        " Graph; empty: all of this deployment's.",
    )
    teams_app_id: str | None = Field(
        default=None,
        description="Microsoft Teams: the bot's Microsoft App ID (its Entra ID app registration);"
        " `slis teams package` puts it in the app manifest.",
    )
    teams_app_password: SecretStr | None = Field(
        default=None, description="Microsoft Teams: a client secret of the bot's app registration."
    )
    teams_certificate_file: Path | None = Field(
        default=None,
        description="Microsoft Teams: instead of a password, a PEM file with the app"
        " registration's certificate and its private key.",
    )
    teams_tenant_id: str | None = Field(
        default=None,
        description="Microsoft Teams: the Entra ID tenant the bot is registered in (single"
        " tenant); requests from any other tenant are refused.",
    )
    teams_openid_metadata_url: str = DEFAULT_TEAMS_OPENID_METADATA_URL
    teams_authority_url: str = DEFAULT_TEAMS_AUTHORITY_URL
    slis_sandbox: SandboxSwitch = Field(
        default=SandboxSwitch.AUTO,
        description="The local sandbox at /sandbox: auto (on when no chat credentials are set),"
        " on (also in place of real Slack credentials), off.",
    )
    host: str = "127.0.0.1"
    port: int = 3000
    log_level: str = "INFO"

    @field_validator("slis_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (try Europe/London)") from exc
        return value

    @field_validator("slis_anonymity_pepper")
    @classmethod
    def _long_pepper(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError(
                "must be at least 32 bytes; make one with"
                " python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return value

    @field_validator("slis_sandbox", mode="before")
    @classmethod
    def _switch_words(cls, value: object) -> object:
        if isinstance(value, str):
            word = value.strip().lower()
            return {
                "1": "on",
                "true": "on",
                "yes": "on",
                "0": "off",
                "false": "off",
                "no": "off",
            }.get(word, word or "auto")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "teams_app_password",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    def slack(self) -> SlackCredentials | None:
        """The Slack configuration, None when Slack is not configured at all.

        Raises ConfigError naming every missing or malformed setting when it is partial.
        """
        bot = _secret(self.slack_bot_token)
        signing = _secret(self.slack_signing_secret)
        app = _secret(self.slack_app_token)
        if bot is None and signing is None and app is None:
            return None
        problems: list[str] = []
        if bot is None:
            problems.append("SLACK_BOT_TOKEN is missing (the bot token, xoxb-...)")
        elif not bot.startswith("xoxb-"):
            problems.append("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
        if app is None and signing is None:
            problems.append(
                "SLACK_SIGNING_SECRET is missing (Basic Information > App Credentials);"
                " or set SLACK_APP_TOKEN for Socket Mode"
            )
        if app is not None and not app.startswith("xapp-"):
            problems.append("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
        if self.slack_client_id or self.slack_client_secret:
            problems.append(
                "SLACK_CLIENT_ID / SLACK_CLIENT_SECRET are set: the bot is installed with"
                " SLACK_BOT_TOKEN and does not do the OAuth install flow; unset them"
            )
        if problems:
            raise ConfigError("Slack is only partly configured:\n  - " + "\n  - ".join(problems))
        assert bot is not None
        mode = SlackMode.SOCKET if app is not None else SlackMode.HTTP
        return SlackCredentials(mode, bot, signing, app, self.slack_api_url)

    def graph(self) -> GraphCredentials | None:
        """The Microsoft Graph app registration, None when none is configured.

        Raises ConfigError naming every missing or malformed setting when it is partial.
        """
        given = {
            "GRAPH_TENANT_ID": (self.graph_tenant_id or "").strip(),
            "GRAPH_CLIENT_ID": (self.graph_client_id or "").strip(),
            "GRAPH_CLIENT_SECRET": _secret(self.graph_client_secret) or "",
        }
        if not any(given.values()):
            return None
        problems = [f"{name} is missing" for name, value in given.items() if not value]
        codes: set[int] = set()
        for part in self.graph_la_codes.split(","):
            if not part.strip():
                continue
            if not part.strip().isdigit():
                problems.append(f"GRAPH_LA_CODES: {part.strip()!r} is not an LA code (e.g. 881)")
            else:
                codes.add(int(part))
        for name, url in (
            ("GRAPH_API_URL", self.graph_api_url),
            ("GRAPH_AUTHORITY_URL", self.graph_authority_url),
        ):
            if not url.startswith("https://"):
                problems.append(f"{name} must be an https:// address")
        if problems:
            raise ConfigError(
                "Microsoft Graph is only partly configured:\n  - " + "\n  - ".join(problems)
            )
        return GraphCredentials(
            given["GRAPH_TENANT_ID"],
            given["GRAPH_CLIENT_ID"],
            given["GRAPH_CLIENT_SECRET"],
            self.graph_api_url,
            self.graph_authority_url,
            frozenset(codes) or None,
        )

    def teams(self) -> TeamsCredentials | None:
        """The Microsoft Teams configuration, None when Teams is not configured at all.

        Raises ConfigError naming every missing or malformed setting when it is partial. There
        is no setting that accepts unsigned requests: the SDK's own switch for that
        (DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS) stops the start instead.
        """
        app_id = (self.teams_app_id or "").strip()
        tenant = (self.teams_tenant_id or "").strip()
        password = _secret(self.teams_app_password) or None
        cert_file = self.teams_certificate_file
        problems: list[str] = []
        if os.environ.get(UNSIGNED_SWITCH, "").strip().lower() not in (
            "",
            "0",
            "false",
            "no",
            "off",
        ):
            problems.append(
                f"{UNSIGNED_SWITCH} is set: this bot always checks the tokens Teams sends; unset it"
            )
        if not (password or cert_file or tenant):
            # TEAMS_APP_ID alone only names the app for `slis teams package`.
            return _refuse(problems) if problems else None
        if not app_id:
            problems.append("TEAMS_APP_ID is missing (the bot's Microsoft App ID)")
        if not tenant:
            problems.append("TEAMS_TENANT_ID is missing (the Entra ID tenant of the bot)")
        if password and cert_file:
            problems.append("set TEAMS_APP_PASSWORD or TEAMS_CERTIFICATE_FILE, not both")
        elif not password and not cert_file:
            problems.append("TEAMS_APP_PASSWORD or TEAMS_CERTIFICATE_FILE is missing")
        pem: str | None = None
        if cert_file is not None:
            try:
                pem = cert_file.read_text()
            except OSError as exc:
                problems.append(f"TEAMS_CERTIFICATE_FILE: cannot read {cert_file}: {exc.strerror}")
            else:
                if "PRIVATE KEY-----" not in pem or "CERTIFICATE-----" not in pem:
                    problems.append(
                        "TEAMS_CERTIFICATE_FILE must hold the certificate and its private key (PEM)"
                    )
        url = self.teams_openid_metadata_url
        if not url.endswith("/openidconfiguration"):
            problems.append("TEAMS_OPENID_METADATA_URL must end in /openidconfiguration")
        # Keys fetched in the clear could be swapped; a loopback address is the operator's own.
        if not url.startswith(("https://", LOOPBACK_HTTP)):
            problems.append("TEAMS_OPENID_METADATA_URL must be an https:// address")
        if not self.teams_authority_url.startswith("https://"):
            problems.append("TEAMS_AUTHORITY_URL must be an https:// address")
        if problems:
            return _refuse(problems)
        return TeamsCredentials(
            app_id, tenant, password, pem, url, self.teams_authority_url.rstrip("/")
        )

    def sandbox(self) -> SandboxPlan | None:
        """The local sandbox's plan, None when it does not run.

        On by default (auto) only when neither Slack nor Teams is configured and the server
        listens on 127.0.0.1 alone; never in place of real Slack credentials unless
        SLIS_SANDBOX=on. Raises ConfigError when SLIS_SANDBOX=on cannot be honoured.
        """
        if self.slis_sandbox is SandboxSwitch.OFF:
            return None
        slack = self.slack()
        teams = self.teams()
        loopback = self.host == SANDBOX_HOST
        if self.slis_sandbox is SandboxSwitch.AUTO and (
            slack is not None or teams is not None or not loopback
        ):
            return None
        if not loopback:
            raise ConfigError(
                f"SLIS_SANDBOX=on: the sandbox listens on {SANDBOX_HOST} only, and HOST is"
                f" {self.host}; set HOST={SANDBOX_HOST} or SLIS_SANDBOX=off"
            )
        return SandboxPlan(
            port=self.port,
            replaces_slack=slack is not None,
            may_reset=slack is None and teams is None,
        )

    def sandbox_refusal(self) -> str | None:
        """Why the sandbox will not run although asked for (`slis sandbox`), else None."""
        if self.slis_sandbox is SandboxSwitch.OFF:
            return "SLIS_SANDBOX=off is set; unset it to use the sandbox"
        if self.slis_sandbox is SandboxSwitch.AUTO and self.slack() is not None:
            return (
                "real Slack credentials are set (SLACK_BOT_TOKEN); the sandbox would stand in"
                " for that workspace. Unset them, or set SLIS_SANDBOX=on to use the sandbox"
                " instead of Slack"
            )
        return None

    def sqlite_path(self) -> Path | None:
        """The file behind a SQLite DATABASE_URL, None for other databases or memory."""
        prefix = self.database_url.split(":///", 1)
        if not prefix[0].startswith("sqlite") or len(prefix) != 2 or prefix[1] in ("", ":memory:"):
            return None
        return Path(prefix[1])


# The Teams SDK's switch that stops it checking inbound tokens.
UNSIGNED_SWITCH = "DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS"


def _refuse(problems: list[str]) -> TeamsCredentials:
    raise ConfigError(
        "Microsoft Teams is not configured correctly:\n  - " + "\n  - ".join(problems)
    )


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value().strip() if value is not None else None


def load_settings() -> Settings:
    """Read the settings once; a malformed value raises ConfigError naming it."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        lines = [
            f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        ]
        raise ConfigError("Invalid settings:\n  - " + "\n  - ".join(lines)) from None
