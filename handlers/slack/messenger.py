"""Sending a bot message into a Slack conversation."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bot.types import ConversationRef, Platform, Reply
from handlers.slack import render


class SlackMessenger:
    """Messenger over `chat.postMessage`; Slack errors (rate limits included) propagate."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def send(self, to: ConversationRef, reply: Reply) -> str:
        """Post the reply; returns the message's `ts`."""
        if to.platform is not Platform.SLACK:
            raise ValueError(f"SlackMessenger cannot send to {to.platform.value}")
        response = await self._client.chat_postMessage(
            channel=to.conversation_id,
            text=render.message(reply)["text"],
            blocks=render.blocks(reply),
        )
        return str(response["ts"])
