"""The core as the adapters see it: identify the asker, answer a command, build a home view."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import timedelta

from bot.actor_cache import ActorCache
from bot.commands import (
    CommandRouter,
    directory_commands,
    fault_reply,
    not_linked_reply,
    reminder_commands,
)
from bot.errors import ProfileUnavailable, UserError
from bot.ports import ChatProfiles, Clock, SystemClock
from bot.replies import directory as present
from bot.services.calendar import CalendarService
from bot.services.directory import DirectoryService
from bot.services.identity import IdentityService
from bot.services.inbound import InboundLedger
from bot.services.reminders import ReminderService
from bot.types import Actor, ChatUser, Reply
from storage.engine import Database

log = logging.getLogger(__name__)

# How long a running bot trusts what it read of a person's roles. The directory changes by
# administrators' imports, often from another process, so this bounds how long a change takes
# to be seen, while sparing every request the directory queries.
ACTOR_TTL = timedelta(seconds=60)
# An unmatched user is looked up on the platform again after this long, so a person added
# to the directory is recognised soon without a profile call on every request.
UNMATCHED_RETRY = timedelta(minutes=10)


class Core:
    """Everything an adapter calls; it owns the services and the command table."""

    def __init__(
        self, db: Database, *, default_la_code: int | None = None, clock: Clock | None = None
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.identity = IdentityService(db, default_la_code)
        self.directory = DirectoryService(db)
        self.calendar = CalendarService(db, clock=self.clock)
        self.reminders = ReminderService(db, self.clock, calendars=self.calendar.for_tenant)
        self.router = CommandRouter(
            [
                *directory_commands(self.directory),
                *reminder_commands(self.reminders, self.clock),
            ]
        )
        self._actors = ActorCache()
        self.inbound = InboundLedger(db, self.clock)

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
        return present.home(view)
