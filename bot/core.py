"""The core as the adapters see it: identify the asker, answer a command, build a home view."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TypeVar

from bot import authorisation
from bot.actor_cache import ActorCache
from bot.commands import (
    CommandRouter,
    audit_commands,
    directory_commands,
    error_reply,
    fault_reply,
    healthcheck_commands,
    meeting_commands,
    not_linked_reply,
    reminder_commands,
    support_commands,
)
from bot.errors import ProfileUnavailable, UserError
from bot.form_flow import Finished, FormFlow, FormStep, ShowPage, submit_checked
from bot.forms import Form, FormValue
from bot.ids import parse_id
from bot.ports import ChatProfiles, Clock, SystemClock
from bot.replies import directory as present
from bot.replies import support_views as present_support
from bot.replies.healthcheck_report import present as present_report
from bot.replies.reminders import CANCEL_ACTION as CANCEL_REMINDER
from bot.replies.support import ACTION_PREFIX as SUPPORT_PREFIX
from bot.services.audit import AuditLog
from bot.services.calendar import CalendarService
from bot.services.conversations import Conversation, ConversationBook
from bot.services.directory import DirectoryService
from bot.services.healthcheck.answering import AnswerService
from bot.services.healthcheck.launch_form import LaunchFlow
from bot.services.healthcheck.prompts import START_ACTION as START_HEALTHCHECK
from bot.services.healthcheck.report import ReportService
from bot.services.healthcheck.responses import ResponseKeys
from bot.services.healthcheck.rounds import RoundService
from bot.services.identity import IdentityService
from bot.services.inbound import InboundLedger
from bot.services.meetings.common import ACTION_PREFIX as MEETING_PREFIX
from bot.services.meetings.service import Meetings
from bot.services.reminders import ReminderService
from bot.services.sandbox import SandboxService
from bot.services.support.catalogue import Catalogues
from bot.services.support.forms import IMMEDIATE as SUPPORT_IN_PLACE
from bot.services.support.forms import ActionFlow, AskFlow
from bot.services.support.requests import ESCALATE_AFTER, SupportService
from bot.services.support.views import SupportViews
from bot.services.workspaces import UninstallOutcome, WorkspaceService
from bot.types import Actor, ChatUser, ConversationRef, Platform, Reply
from storage.engine import Database

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Pressed:
    """What a button on one of the bot's messages did: a form to show, or a reply; and
    whether that reply is the message redrawn (shown in place of it) or said beside it."""

    step: ShowPage | Reply
    in_place: bool


# How long a running bot trusts what it read of a person's roles. The directory changes by
# administrators' imports, often from another process, so this bounds how long a change takes
# to be seen, while sparing every request the directory queries.
ACTOR_TTL = timedelta(seconds=60)
# An unmatched user is looked up on the platform again after this long, so a person added
# to the directory is recognised soon without a profile call on every request.
UNMATCHED_RETRY = timedelta(minutes=10)


def _gate(actor: Actor, entry: authorisation.Entry | None) -> Reply | None:
    """Why the actor may not use a button or form at all (its table entry's role gate), or
    None to go on; the service then checks the scope."""
    if entry is None:
        return None
    if entry.needs_link and not actor.linked:
        return not_linked_reply(actor)
    if not authorisation.may_try(actor, entry):
        refused = authorisation.refusal(entry)
        return error_reply(refused.message, refused.hint)
    return None


class Core:
    """Everything an adapter calls; it owns the services and the command table."""

    def __init__(
        self,
        db: Database,
        *,
        default_la_code: int | None = None,
        clock: Clock | None = None,
        response_keys: ResponseKeys | None = None,
        min_group: int = 3,
        catalogues: Catalogues | None = None,
        escalate_after: int = ESCALATE_AFTER,
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.identity = IdentityService(db, self.clock, default_la_code)
        self.directory = DirectoryService(db)
        self.calendar = CalendarService(db, clock=self.clock)
        self.reminders = ReminderService(db, self.clock, calendars=self.calendar.for_tenant)
        calendars = self.calendar.for_tenant
        self.rounds = RoundService(
            db, self.clock, calendars, keys=response_keys, min_group=min_group
        )
        self.answers = AnswerService(
            db, self.clock, calendars, keys=response_keys, min_group=min_group
        )
        self.launch = LaunchFlow(db, self.clock, self.rounds)
        self.reports = ReportService(db, min_group=min_group, keys=response_keys)
        self.catalogues = catalogues or Catalogues(db)
        self.support = SupportService(
            db, self.clock, calendars, self.catalogues, escalate_after=escalate_after
        )
        self.support_ask = AskFlow(self.support)
        self.support_actions = ActionFlow(self.support, self.support_ask)
        self.support_views = SupportViews(db, self.clock, calendars, self.catalogues)
        self.meetings = Meetings(db, self.clock, calendars)
        self.audit = AuditLog(db, self.clock)
        flows: tuple[FormFlow, ...] = (
            self.answers,
            self.launch,
            self.support_ask,
            self.support_actions,
            *self.meetings.flows,
        )
        self.forms: dict[str, FormFlow] = {flow.callback_id: flow for flow in flows}
        unlisted = [c for c in self.forms if authorisation.form(c) is None]
        if unlisted:
            raise ValueError(f"forms with no authorisation entry: {unlisted}")
        self.router = CommandRouter(
            [
                *directory_commands(self.directory),
                *reminder_commands(self.reminders, self.clock),
                *healthcheck_commands(
                    self.answers,
                    self.rounds,
                    self.launch,
                    lambda actor, args: present_report(self.reports.report(actor, args)),
                ),
                *support_commands(self.support_ask, self.support, self.support_views),
                *meeting_commands(self.meetings),
                *audit_commands(self.audit),
            ]
        )
        self._actors = ActorCache()
        self.inbound = InboundLedger(db, self.clock)
        self.conversations = ConversationBook(db, self.clock)
        self.workspaces = WorkspaceService(db, self.clock, default_la_code)
        self.sandbox = SandboxService(db, self.clock, self.calendar)

    async def conversation_seen(
        self, conversation: Conversation, tenant_id: int | None = None
    ) -> bool:
        """Remember a conversation the bot is in (installed there, or written to), so it can
        post there later; False if its workspace belongs to no local authority here.
        `tenant_id`: its local authority, when the caller knows it already (an identified
        actor's), which spares looking it up."""
        ref = conversation.ref
        if tenant_id is None:
            tenant_id = await asyncio.to_thread(
                self.identity.tenant_of, ref.platform, ref.workspace_id
            )
        if tenant_id is None:
            log.info("a %s conversation in an unknown workspace: not kept", ref.platform.value)
            return False
        await asyncio.to_thread(self.conversations.seen, tenant_id, conversation)
        return True

    async def personal_conversation(self, actor: Actor) -> ConversationRef | None:
        """Where the bot reaches the actor privately on their platform, when that needs a
        stored conversation (Teams); None if they have not installed the bot for themselves."""
        if actor.tenant_id is None:
            return None
        chat = actor.chat
        return await asyncio.to_thread(
            self.conversations.personal,
            actor.tenant_id,
            chat.platform,
            chat.workspace_id,
            chat.user_id,
        )

    async def conversation_removed(self, ref: ConversationRef) -> None:
        """The bot was removed from a conversation: stop delivering there, keep the rows."""
        await asyncio.to_thread(self.conversations.removed, ref)

    async def workspace_uninstalled(
        self, platform: Platform, workspace_id: str, reason: str
    ) -> UninstallOutcome:
        """A workspace uninstalled the app or revoked its bot token: stop delivering there."""
        return await asyncio.to_thread(self.workspaces.uninstalled, platform, workspace_id, reason)

    async def identify(self, chat: ChatUser, profiles: ChatProfiles | None = None) -> Actor:
        """The actor for a chat user, linking them by their profile e-mail the first time."""
        now = self.clock.now()
        cached = self._actors.get(chat, now)
        if cached is not None:
            return cached
        actor = await asyncio.to_thread(self.identity.actor_for, chat)
        if not actor.linked and actor.tenant_id is not None and profiles is not None:
            try:
                email = await profiles.email_of(chat.workspace_id, chat.user_id)
            except ProfileUnavailable:
                log.warning("profile of %s not available now; will ask again", chat.user_id)
                return actor
            if email:
                actor = await asyncio.to_thread(self.identity.link_by_email, chat, email)
            if not actor.linked:
                self._actors.put(chat, actor, now + UNMATCHED_RETRY)
                return actor
        self._actors.put(chat, actor, now + ACTOR_TTL)
        return actor

    async def first_delivery(self, key: str) -> bool:
        """True the first time a platform delivers the request named `key`; False on repeats."""
        return await asyncio.to_thread(self.inbound.first_delivery, key)

    def forget_actors(self) -> None:
        """Drop what is cached about people, e.g. after this process changed the directory."""
        self._actors.clear()

    async def command(self, actor: Actor, text: str) -> Reply:
        """The reply to `/slis <text>`; never raises. Database work runs off the event loop."""
        if self.router.reads_database(text):
            return await asyncio.to_thread(self.router.dispatch, actor, text)
        return self.router.dispatch(actor, text)

    async def open_form(self, actor: Actor, text: str) -> ShowPage | Reply:
        """The form `/slis <text>` opens (see `router.opens_form`), or a reply saying why not."""
        return await asyncio.to_thread(self.router.open_form, actor, text)

    async def start_answer(self, actor: Actor, invitation_id: int) -> ShowPage | Reply:
        """The healthcheck form behind a prompt's Start button, or why it can't be answered."""
        return await self._form_call(
            lambda: self.answers.start(actor, invitation_id), "healthcheck start"
        )

    async def support_press(self, actor: Actor, action: str, value: str) -> ShowPage | Reply:
        """A support card's button: the form it opens, or the card after the action (or why
        not)."""
        return await self._form_call(
            lambda: self.support_actions.press(actor, action, value), f"support {action}"
        )

    async def meeting_press(self, actor: Actor, action: str, value: str) -> ShowPage | Reply:
        """A meeting message's button: the form it opens, or what the action left (a redrawn
        poll or invitation, a confirmation), or why not."""
        return await self._form_call(
            lambda: self.meetings.press(actor, action, value), f"meeting {action}"
        )

    async def button(self, actor: Actor, action_id: str, value: str) -> Pressed | None:
        """Any button on the bot's messages, by its action id, for adapters that take them all
        in one place; None for an action id the bot does not have."""
        value = value.strip()
        refused = _gate(actor, authorisation.button(action_id))
        if refused is not None:
            return Pressed(refused, False)
        if action_id == START_HEALTHCHECK:
            invitation_id = parse_id(value)
            if invitation_id is None:
                return Pressed(error_reply("That Start button is out of date."), False)
            return Pressed(await self.start_answer(actor, invitation_id), False)
        if action_id == CANCEL_REMINDER:
            reminder_id = parse_id(value)
            if reminder_id is None:
                return Pressed(error_reply("That Cancel button is out of date."), False)
            reply = await self.command(actor, f"remind cancel {reminder_id}")
            return Pressed(reply, not reply.is_error)
        if action_id.startswith(SUPPORT_PREFIX):
            name = action_id.removeprefix(SUPPORT_PREFIX)
            return Pressed(await self.support_press(actor, name, value), name in SUPPORT_IN_PLACE)
        if action_id.startswith(MEETING_PREFIX):
            name = action_id.removeprefix(MEETING_PREFIX)
            step = await self.meeting_press(actor, name, value)
            return Pressed(step, self.meetings.in_place(name))
        return None

    def la_code_of(self, tenant_id: int) -> int | None:
        """The local authority code of a tenant (None if there is no such tenant)."""
        return self.identity.la_code_of(tenant_id)

    async def form_of(self, actor: Actor, callback_id: str, metadata: str) -> Form | Reply:
        """The form a sent page belongs to, to read it by; a reply if it can't be filled in."""
        flow = self.forms.get(callback_id)
        if flow is None:
            return fault_reply(secrets.token_hex(4))
        refused = _gate(actor, authorisation.form(callback_id))
        if refused is not None:
            return refused
        return await self._form_call(lambda: flow.form(actor, metadata), callback_id)

    async def form_submit(
        self,
        actor: Actor,
        callback_id: str,
        metadata: str,
        page: int,
        values: Mapping[str, FormValue],
        *,
        back: bool = False,
    ) -> FormStep:
        """Hand a sent page (or, `back`, the page being left for page `page`) to the service
        that owns the form; never raises."""
        flow = self.forms[callback_id]
        refused = _gate(actor, authorisation.form(callback_id))
        if refused is not None:
            return Finished(refused)
        act = flow.back if back else partial(submit_checked, flow)
        step = await self._form_call(lambda: act(actor, metadata, page, values), callback_id)
        return Finished(step) if isinstance(step, Reply) else step

    async def _form_call(self, call: Callable[[], T], what: str) -> T | Reply:
        try:
            return await asyncio.to_thread(call)
        except UserError as exc:
            return error_reply(exc.message, exc.hint)
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("%s failed (ref %s)", what, ref)
            return fault_reply(ref)

    async def home(self, actor: Actor) -> Reply:
        """The App Home view for the actor; never raises."""
        if not actor.linked:
            return not_linked_reply(actor)
        try:
            view = await asyncio.to_thread(self.directory.home, actor)
        except UserError as exc:
            return not_linked_reply(actor) if actor.tenant_id is None else Reply(exc.message)
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("home view failed (ref %s)", ref)
            return fault_reply(ref)
        usable = tuple((c.name, c.summary) for c in self.router.usable(actor))
        reply = present.home(view, usable)
        try:
            support = await asyncio.to_thread(self.support_views.home, actor)
        except Exception:
            # The directory part of the home still helps; the support part is logged.
            log.exception("the support section of the home view failed")
            return reply
        extra = present_support.home_blocks(support)
        return Reply(reply.text, (*reply.blocks, *extra), private=reply.private)
