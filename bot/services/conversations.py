"""The conversations the bot may post into unasked, as the platforms report them.

Teams gives the bot a conversation's service URL and id only when something happens in it
(the app is installed, someone writes), and the bot needs both to post there later: a survey
prompt, an offer, a reminder. Adapters report each conversation they see, and its removal;
the outbox reads the book to reach a person or a channel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import Session, col, select

from bot.ports import Clock
from bot.types import ConversationRef, Platform
from storage.conversation_tables import ChatConversation
from storage.engine import Database

log = logging.getLogger(__name__)


class ConversationKind(StrEnum):
    """A one-to-one chat with the bot, a channel of a team, or a group chat."""

    PERSONAL = "personal"
    CHANNEL = "channel"
    GROUP = "group"


@dataclass(frozen=True)
class Conversation:
    """A conversation as an adapter saw it. `user_id` is the chat user a personal conversation
    is with (as ChatUser.user_id has them); `member_id` the platform's id for that user inside
    conversations, where it differs."""

    ref: ConversationRef
    kind: ConversationKind
    user_id: str | None = None
    member_id: str | None = None
    name: str = ""


class ConversationBook:
    """Keeps one row per conversation: where it is, and whether the bot is still in it."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def seen(self, tenant_id: int, conversation: Conversation) -> None:
        """Record that the bot is in `conversation` now (an install, or any message in it).
        Writes only when something changed, so a busy chat costs one read per message."""
        ref = conversation.ref
        with self._db.session() as session:
            row = _row(session, ref.platform, ref.workspace_id, ref.conversation_id)
            if row is None:
                row = ChatConversation(
                    tenant_id=tenant_id,
                    platform=ref.platform.value,
                    workspace_id=ref.workspace_id,
                    conversation_id=ref.conversation_id,
                    kind=conversation.kind.value,
                    updated_at=self._clock.now(),
                )
            elif (
                row.installed
                and row.tenant_id == tenant_id
                and row.service_url == (ref.service_url or row.service_url)
                and row.user_id == (conversation.user_id or row.user_id)
                and row.member_id == (conversation.member_id or row.member_id)
                and row.name == (conversation.name or row.name)
            ):
                return
            row.tenant_id = tenant_id
            row.service_url = ref.service_url or row.service_url
            row.user_id = conversation.user_id or row.user_id
            row.member_id = conversation.member_id or row.member_id
            row.name = conversation.name or row.name
            row.installed = True
            row.removed_at = None
            row.updated_at = self._clock.now()
            session.add(row)

    def removed(self, ref: ConversationRef) -> bool:
        """The bot was removed from the conversation (uninstalled, or the chat deleted):
        nothing more goes there, but the row stays. False if it was not known."""
        with self._db.session() as session:
            row = _row(session, ref.platform, ref.workspace_id, ref.conversation_id)
            if row is None:
                return False
            if row.installed:
                row.installed = False
                row.removed_at = self._clock.now()
                row.updated_at = row.removed_at
                session.add(row)
            return True

    def personal(
        self, tenant_id: int, platform: Platform, workspace_id: str, user_id: str
    ) -> ConversationRef | None:
        """The chat user's one-to-one conversation with the bot, if it is installed there."""
        with self._db.session() as session:
            return personal_conversation(session, tenant_id, platform, workspace_id, user_id)


def _row(
    session: Session, platform: Platform, workspace_id: str, conversation_id: str
) -> ChatConversation | None:
    return session.exec(
        select(ChatConversation).where(
            ChatConversation.platform == platform.value,
            ChatConversation.workspace_id == workspace_id,
            ChatConversation.conversation_id == conversation_id,
        )
    ).first()


def personal_conversation(
    session: Session, tenant_id: int, platform: Platform, workspace_id: str, user_id: str
) -> ConversationRef | None:
    """Where the bot reaches a chat user on a platform that needs a stored conversation
    (Teams): their one-to-one chat with the bot, if the bot is installed there."""
    row = session.exec(
        select(ChatConversation)
        .where(
            ChatConversation.tenant_id == tenant_id,
            ChatConversation.platform == platform.value,
            ChatConversation.workspace_id == workspace_id,
            ChatConversation.user_id == user_id,
            ChatConversation.kind == ConversationKind.PERSONAL.value,
            col(ChatConversation.installed).is_(True),
        )
        .order_by(col(ChatConversation.updated_at).desc())
    ).first()
    if row is None:
        return None
    return ConversationRef(platform, workspace_id, row.conversation_id, row.service_url)


def conversation_state(
    session: Session, tenant_id: int, ref: ConversationRef
) -> tuple[bool, str | None] | None:
    """Whether the bot is still in a known conversation of the tenant, and its service URL;
    None for a conversation the book does not know."""
    row = _row(session, ref.platform, ref.workspace_id, ref.conversation_id)
    if row is None or row.tenant_id != tenant_id:
        return None
    return row.installed, row.service_url


# Platforms where a person's user id is not itself a conversation the bot can post to.
NEEDS_STORED_CONVERSATION = frozenset({Platform.TEAMS})
