"""Conversations the bot has been added to, and how to reach them again later."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class ChatConversation(SQLModel, table=True):
    """A conversation on a platform that the bot may post into without being asked: a
    person's one-to-one chat with the bot, a channel or a group chat.

    Teams needs this to start a conversation (its service URL and conversation id come only
    with a request from Teams); `installed` turns false when the bot is removed, which stops
    deliveries there while keeping the row.
    """

    __tablename__ = "chat_conversation"
    __table_args__ = (
        UniqueConstraint("platform", "workspace_id", "conversation_id"),
        # A person's one-to-one conversation, found by their chat user id.
        Index("ix_chat_conversation_user", "platform", "workspace_id", "user_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenant.id", index=True)
    platform: str = Field(max_length=16)
    workspace_id: str = Field(max_length=64)
    conversation_id: str = Field(max_length=255)
    kind: str = Field(max_length=16)  # personal | channel | group
    service_url: str | None = Field(default=None, max_length=500)
    # For a personal conversation: the chat user it is with (ChatIdentity.user_id), and the
    # platform's own id for them inside conversations (Teams: "29:…"), to look up their profile.
    user_id: str | None = Field(default=None, max_length=64)
    member_id: str | None = Field(default=None, max_length=255)
    name: str = Field(default="", max_length=200)
    installed: bool = Field(default=True)
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    removed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
