"""Plain values shared by the core and the adapters: who is asking, and what the bot says."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Platform(StrEnum):
    """Chat platforms the bot lives in."""

    SLACK = "slack"
    TEAMS = "teams"


class Role(StrEnum):
    """What a person does in the system; a person may hold several."""

    HEAD = "head"
    STAFF = "staff"
    PARTNERSHIP_LEAD = "partnership_lead"
    QUADRANT_CHAIR = "quadrant_chair"
    ALLIANCE_LEAD = "alliance_lead"
    BOARD_MEMBER = "board_member"
    LA_OFFICER = "la_officer"
    ASSOCIATION_REP = "association_rep"
    GOVERNOR = "governor"
    ADMINISTRATOR = "administrator"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS: dict[Role, str] = {
    Role.HEAD: "Headteacher",
    Role.STAFF: "School staff",
    Role.PARTNERSHIP_LEAD: "Partnership lead",
    Role.QUADRANT_CHAIR: "Quadrant chair",
    Role.ALLIANCE_LEAD: "Teaching School Alliance lead",
    Role.BOARD_MEMBER: "Project Board member",
    Role.LA_OFFICER: "LA officer",
    Role.ASSOCIATION_REP: "Heads' association representative",
    Role.GOVERNOR: "Governor",
    Role.ADMINISTRATOR: "Administrator",
}


class ScopeKind(StrEnum):
    """What a role applies to."""

    SCHOOL = "school"
    PARTNERSHIP = "partnership"
    QUADRANT = "quadrant"
    ALLIANCE = "alliance"
    COUNTY = "county"


@dataclass(frozen=True)
class Grant:
    """One role held over one scope, with the scope's display name."""

    role: Role
    scope: ScopeKind
    scope_id: int | None
    scope_name: str

    def describe(self) -> str:
        if self.scope is ScopeKind.COUNTY:
            return f"{self.role.label} (whole local authority)"
        return f"{self.role.label}, {self.scope_name}"


@dataclass(frozen=True)
class ChatUser:
    """A chat account as the platform names it."""

    platform: Platform
    workspace_id: str
    user_id: str


@dataclass(frozen=True)
class Actor:
    """Whoever is asking: their tenant, their person record (if linked) and their roles."""

    chat: ChatUser
    tenant_id: int | None
    tenant_name: str | None
    person_id: int | None
    name: str | None
    grants: tuple[Grant, ...] = ()

    @property
    def linked(self) -> bool:
        return self.person_id is not None and self.tenant_id is not None

    def roles(self) -> frozenset[Role]:
        return frozenset(g.role for g in self.grants)

    def has_any(self, roles: frozenset[Role]) -> bool:
        return bool(self.roles() & roles)


@dataclass(frozen=True)
class ConversationRef:
    """Where to start or continue a conversation on a platform."""

    platform: Platform
    workspace_id: str
    conversation_id: str
    service_url: str | None = None


# --- What the bot says, independent of any platform's markup -------------------------------


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Paragraph:
    """Text; `*bold*` spans are the only markup and every renderer honours them."""

    text: str


@dataclass(frozen=True)
class Fields:
    """Label/value pairs shown side by side where the platform can."""

    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class BulletList:
    items: tuple[str, ...]
    title: str | None = None


@dataclass(frozen=True)
class Context:
    """Small print under a block: hints, references, timestamps."""

    text: str


@dataclass(frozen=True)
class Divider:
    pass


@dataclass(frozen=True)
class Button:
    label: str
    action_id: str
    value: str = ""
    style: str | None = None  # "primary" | "danger" | None


@dataclass(frozen=True)
class Actions:
    buttons: tuple[Button, ...]


Block = Heading | Paragraph | Fields | BulletList | Context | Divider | Actions


@dataclass(frozen=True)
class Attachment:
    """A file that goes with a reply (a chart, an export), uploaded where the platform can.

    `media_type` is the MIME type, e.g. "image/png", "text/csv".
    """

    filename: str
    title: str
    content: bytes = field(repr=False)
    media_type: str


@dataclass(frozen=True)
class Reply:
    """A message from the bot: a plain-text summary (notifications, screen readers) and blocks."""

    text: str
    blocks: tuple[Block, ...] = field(default=())
    private: bool = True  # only the person asking sees it
    is_error: bool = False
    # Files to go with it. A reply with files is delivered to the person's direct messages
    # with the bot (charts and exports are for the asker alone), never into a channel.
    files: tuple[Attachment, ...] = ()
