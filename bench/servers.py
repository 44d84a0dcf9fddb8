"""The two apps the acknowledgement benchmark compares, as uvicorn factories.

`ours` is the real bot from its settings; `bare` is a Bolt app on the same FastAPI stack whose
`/slis` handler only acknowledges — the floor our handler's own work is measured against.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, Request
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp

from bot.app import create_app
from bot.config import load_settings


def ours() -> FastAPI:
    return create_app(load_settings())


def bare() -> FastAPI:
    bolt = AsyncApp(
        token=os.environ["SLACK_BOT_TOKEN"], signing_secret=os.environ["SLACK_SIGNING_SECRET"]
    )
    bolt.client.base_url = os.environ["SLACK_API_URL"]  # as the bot does

    @bolt.command("/slis")
    async def only_ack(ack):  # type: ignore[no-untyped-def]
        await ack()

    handler = AsyncSlackRequestHandler(bolt)
    api = FastAPI()

    @api.post("/slack/events")
    async def events(request: Request):  # type: ignore[no-untyped-def]
        return await handler.handle(request)

    return api
