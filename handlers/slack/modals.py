"""Forms in Slack: opening a form as a modal, and taking its pages as they are sent.

Which service owns a form is named by the modal's `callback_id` (the core's `forms`); what
page it is and the service's own metadata travel in `private_metadata` (see handlers.slack.forms).
Every answer to a `view_submission` goes back in its acknowledgement: the next page, problems
under the fields, or the end shown in place of the form.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from slack_bolt.async_app import AsyncRespond
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import error_reply, fault_reply
from bot.core import Core
from bot.form_flow import OUT_OF_DATE, Finished, FormStep, PageErrors, ShowPage
from bot.ports import ChatProfiles
from bot.types import Actor, ChatUser, Platform, Reply
from handlers.slack import forms, render
from handlers.slack.profiles import error_code

log = logging.getLogger(__name__)

Body = dict[str, Any]
RESULT_TITLE_LIMIT = 24
CLOSE_LABEL = "Close"


def page_view(step: ShowPage) -> Body:
    """A page of a form as a modal view."""
    return forms.modal(step.form, step.page, step.values, step.errors)


def result_view(step: Finished) -> Body:
    """The end of a form (or why it can't go on), shown in place of the form."""
    title = step.title if len(step.title) <= RESULT_TITLE_LIMIT else step.title[:23] + "…"
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "close": {"type": "plain_text", "text": CLOSE_LABEL},
        "blocks": render.blocks(step.reply, forms.VIEW_BLOCK_LIMIT),
    }


def step_response(step: FormStep) -> Body:
    """The acknowledgement of a `view_submission` that shows `step`."""
    match step:
        case ShowPage():
            return forms.update_response(page_view(step))
        case PageErrors():
            return forms.errors_response(step.errors)
        case Finished():
            return forms.update_response(result_view(step))
    raise TypeError(step)


def _user(body: Body) -> ChatUser:
    team = body.get("team_id") or (body.get("team") or {}).get("id") or body.get("enterprise_id")
    user = (body.get("user") or {}).get("id") or body.get("user_id")
    return ChatUser(Platform.SLACK, str(team or "unknown"), str(user or ""))


class ModalHandlers:
    """The Slack side of the core's forms: open, submit, back, and the healthcheck Start."""

    def __init__(self, core: Core, profiles: ChatProfiles) -> None:
        self.core = core
        self.profiles = profiles

    async def _actor(self, body: Body) -> Actor:
        return await self.core.identify(_user(body), self.profiles)

    async def open(self, client: AsyncWebClient, trigger_id: str, step: ShowPage) -> Reply | None:
        """Open a form's page as a modal; a reply to show instead if Slack won't."""
        try:
            await client.views_open(trigger_id=trigger_id, view=page_view(step))
        except SlackApiError as exc:
            ref = secrets.token_hex(4)
            log.warning("views.open failed (%s, ref %s)", error_code(exc), ref)
            if error_code(exc) in ("expired_trigger_id", "exchanged_trigger_id"):
                text = "That took too long for Slack to open the form: please try again."
                return Reply(text, is_error=True)
            return fault_reply(ref)
        return None

    async def card_action(
        self,
        ack: AsyncAck,
        body: Body,
        action: Body,
        client: AsyncWebClient,
        respond: AsyncRespond | None,
    ) -> None:
        """A button on one of the bot's messages (a healthcheck prompt's Start, a reminder's
        Cancel, a support card's or a meeting message's buttons): open the action's form, or
        show what the action left. Pressed on a message, the answer replaces it when the
        action redraws its own card, and is said beside it otherwise (an error only to the
        presser); pressed in the App Home or a modal, which have no response URL, it goes to
        the presser's DM."""
        await ack()
        actor = await self._actor(body)
        name = str(action.get("action_id") or "")
        pressed = await self.core.button(actor, name, str(action.get("value") or ""))
        if pressed is None:
            log.warning("a button the bot does not have: %s", name[:64])
            return
        step = pressed.step
        reply = (
            step
            if isinstance(step, Reply)
            else await self.open(client, str(body.get("trigger_id") or ""), step)
        )
        if reply is None:
            return
        on_message = (body.get("container") or {}).get("type") == "message"
        if on_message and respond is not None:
            shown = render.message(reply)
            replacing = pressed.in_place and not reply.is_error
            if replacing:
                # Replacing keeps the message where and as it was (a DM card, or the ephemeral
                # `show`); a response_type would ask Slack for a new message instead.
                del shown["response_type"]
            await respond(replace_original=replacing, **shown)
            return
        user = _user(body).user_id
        if not user:
            log.warning("a %s action without a user to answer", name)
            return
        try:
            await client.chat_postMessage(
                channel=user, text=render.message(reply)["text"], blocks=render.blocks(reply)
            )
        except SlackApiError as exc:
            log.warning("could not answer a %s action in the DM (%s)", name, error_code(exc))

    async def submitted(self, ack: AsyncAck, body: Body, view: Body) -> None:
        """A page of one of the core's forms was sent."""
        meta = forms.view_metadata(view)
        if meta is None or meta.callback_id not in self.core.forms:
            await ack()
            log.warning("a view_submission of %s without form metadata", view.get("callback_id"))
            return
        actor = await self._actor(body)
        form = await self.core.form_of(actor, meta.callback_id, meta.private_metadata)
        if isinstance(form, Reply):
            await ack(**step_response(Finished(form)))
            return
        try:
            sent = forms.parse_submission(form, view)
        except ValueError:
            log.info("a view_submission that does not fit %s: out of date", meta.callback_id)
            await ack(**step_response(Finished(error_reply(OUT_OF_DATE))))
            return
        if sent.errors:
            await ack(**forms.errors_response(sent.errors))
            return
        step = await self.core.form_submit(
            actor, meta.callback_id, meta.private_metadata, sent.page, sent.values
        )
        await ack(**step_response(step))

    async def back(self, ack: AsyncAck, body: Body, action: Body, client: AsyncWebClient) -> None:
        """The Back button of a multi-page form: show the earlier page, keeping this one's
        answers (as far as they go) for when the person comes forward again."""
        await ack()
        view = body.get("view") or {}
        meta = forms.view_metadata(view)
        value = str(action.get("value") or "")
        page = value if value.isascii() and value.isdigit() else ""  # "²" passes isdigit()
        if meta is None or meta.callback_id not in self.core.forms or not page:
            return
        actor = await self._actor(body)
        form = await self.core.form_of(actor, meta.callback_id, meta.private_metadata)
        if isinstance(form, Reply):
            step: FormStep = Finished(form)
        else:
            try:
                values = forms.parse_submission(form, view).values
            except ValueError:
                values = {}
            step = await self.core.form_submit(
                actor, meta.callback_id, meta.private_metadata, int(page), values, back=True
            )
        shown = page_view(step) if isinstance(step, ShowPage) else None
        if isinstance(step, Finished):
            shown = result_view(step)
        if shown is None:
            return
        try:
            await client.views_update(view_id=view.get("id"), hash=view.get("hash"), view=shown)
        except SlackApiError as exc:
            # hash_conflict: the person pressed something else meanwhile; their view wins.
            log.info("views.update for Back not applied (%s)", error_code(exc))
