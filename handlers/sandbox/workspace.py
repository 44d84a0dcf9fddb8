"""The sandbox's Slack workspace in memory: people, conversations, messages, views, files,
trigger ids, response URLs and notices, with a version that moves on every change.

Pure data and bookkeeping: no I/O. Everything runs on the server's event loop; a long poll
waits on `wait_for_change` and is woken by any change (or by `close`).
"""

from __future__ import annotations

import asyncio
import itertools
import mimetypes
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.ports import Clock
from bot.services.sandbox import SandboxChannel, SandboxPerson, SandboxWorkspace

JSON = dict[str, Any]

BOT_USER_ID = "U0SLISBOT"
BOT_ID = "B0SLISBOT"
BOT_NAME = "SLIS Bot"
APP_ID = "A0SLISBOT"
DM_PREFIX = "D0"
# Slack's own limits: a trigger id is good for 3 seconds and one use; a response URL for 30
# minutes and 5 uses; a modal stack holds 3 views.
TRIGGER_TTL = 3.0
RESPONSE_URL_TTL = 30 * 60.0
RESPONSE_URL_USES = 5
STACK_LIMIT = 3
NOTICES_KEPT = 5
LONDON = ZoneInfo("Europe/London")

ViewKind = Literal["modal", "home"]
NoticeLevel = Literal["error", "info"]


class SlackError(Exception):
    """A Slack error code (`channel_not_found`...), answered as `{"ok": false, "error": …}`."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Message:
    """A message in a conversation; `ephemeral_for` names the one person who sees it."""

    channel: str
    ts: str
    user: str
    text: str
    blocks: list[JSON] | None = None
    thread_ts: str | None = None
    metadata: JSON | None = None
    files: tuple[str, ...] = ()
    ephemeral_for: str | None = None
    edited: bool = False

    @property
    def is_bot(self) -> bool:
        return self.user == BOT_USER_ID

    def visible_to(self, user: str) -> bool:
        return self.ephemeral_for is None or self.ephemeral_for == user


@dataclass
class View:
    """A modal on someone's stack, or their App Home tab, as the bot last sent it."""

    id: str
    user: str
    kind: ViewKind
    body: JSON
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def external_id(self) -> str | None:
        value = self.body.get("external_id")
        return str(value) if value else None

    @property
    def notify_on_close(self) -> bool:
        return bool(self.body.get("notify_on_close"))


@dataclass(frozen=True)
class StoredFile:
    """A file uploaded through the upload URL flow and shared."""

    id: str
    name: str
    title: str
    content: bytes = field(repr=False)

    @property
    def mimetype(self) -> str:
        return mimetypes.guess_type(self.name)[0] or "application/octet-stream"

    @property
    def is_image(self) -> bool:
        return self.mimetype in ("image/png", "image/jpeg", "image/gif", "image/webp")


@dataclass
class Upload:
    """A file id issued by files.getUploadURLExternal, and the bytes once they are POSTed."""

    id: str
    name: str
    length: int
    content: bytes | None = None


@dataclass
class ResponseUrl:
    """Where a response URL answers: the person, the conversation, the message it came from."""

    token: str
    user: str
    channel: str
    message_ts: str | None
    expires: float  # on the real (monotonic) clock, as Slack's
    uses_left: int = RESPONSE_URL_USES


@dataclass(frozen=True)
class Notice:
    """What Slack would show a person outside the conversation (a failed command...)."""

    id: int
    level: NoticeLevel
    text: str


@dataclass(frozen=True)
class Trigger:
    user: str
    expires: float


class Workspace:
    """The sandbox's Slack: what the bot's Web API calls change and the page shows."""

    def __init__(
        self,
        clock: Clock,
        *,
        trigger_ttl: float = TRIGGER_TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.trigger_ttl = trigger_ttl
        self._monotonic = monotonic
        self.info = SandboxWorkspace("T0SANDBOX", "SLIS sandbox", None, None, LONDON)
        self.people: dict[str, SandboxPerson] = {}
        self.channels: dict[str, SandboxChannel] = {}
        self.version = 0
        self._changed = asyncio.Event()
        self._closing = False
        self._notice_ids = itertools.count(1)
        self._view_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._reset_content()

    def _reset_content(self) -> None:
        self.messages: dict[str, list[Message]] = {}
        self.modals: dict[str, list[View]] = {}
        self.homes: dict[str, View] = {}
        self.files: dict[str, StoredFile] = {}
        self.uploads: dict[str, Upload] = {}
        self.notices: dict[str, list[Notice]] = {}
        self._triggers: dict[str, Trigger] = {}
        self._used_triggers: set[str] = set()
        self._response_urls: dict[str, ResponseUrl] = {}
        self._last_ts = 0

    # --- the directory ---------------------------------------------------------------------

    def load(
        self,
        info: SandboxWorkspace,
        people: Iterable[SandboxPerson],
        channels: Iterable[SandboxChannel],
    ) -> None:
        """Who is in the workspace and which channels it has (at start and after Reset)."""
        self.info = info
        self.people = {p.user_id: p for p in people}
        self.channels = {c.channel_id: c for c in channels}
        self.changed()

    def clear(self) -> None:
        """Forget every message, view, file and notice (Reset); the people stay until `load`."""
        self._reset_content()
        self.changed()

    def person(self, user_id: str) -> SandboxPerson | None:
        return self.people.get(user_id)

    def person_by_email(self, email: str) -> SandboxPerson | None:
        wanted = email.strip().lower()
        return next((p for p in self.people.values() if p.email.lower() == wanted), None)

    def is_user(self, user_id: str) -> bool:
        return user_id == BOT_USER_ID or user_id in self.people

    def name_of(self, user_id: str) -> str:
        if user_id == BOT_USER_ID:
            return BOT_NAME
        person = self.people.get(user_id)
        return person.name if person is not None else user_id

    @staticmethod
    def dm_of(user_id: str) -> str:
        """The direct conversation between a person and the bot."""
        return DM_PREFIX + user_id

    def dm_owner(self, channel: str) -> str | None:
        """The person whose DM with the bot `channel` is, if it is one."""
        if channel.startswith(DM_PREFIX) and channel[len(DM_PREFIX) :] in self.people:
            return channel[len(DM_PREFIX) :]
        return None

    def conversation(self, channel: str, *, user_ids: bool = False) -> str:
        """The conversation id `channel` names (a user id names their DM when `user_ids`);
        raises SlackError(channel_not_found)."""
        if channel in self.channels or self.dm_owner(channel) is not None:
            return channel
        if user_ids and channel in self.people:
            return self.dm_of(channel)
        raise SlackError("channel_not_found")

    def members_see(self, channel: str, user: str) -> bool:
        """Whether `user` is in `channel` (everyone is in every quadrant channel)."""
        return channel in self.channels or self.dm_owner(channel) == user

    def channel_name(self, channel: str) -> str:
        known = self.channels.get(channel)
        return known.name if known is not None else "directmessage"

    # --- messages --------------------------------------------------------------------------

    def next_ts(self) -> str:
        """A message ts from the sandbox's clock, unique and increasing."""
        micros = round(self.clock.now().timestamp() * 1_000_000)
        micros = max(micros, self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def post(
        self,
        channel: str,
        user: str,
        text: str,
        *,
        blocks: list[JSON] | None = None,
        thread_ts: str | None = None,
        metadata: JSON | None = None,
        files: tuple[str, ...] = (),
        ephemeral_for: str | None = None,
    ) -> Message:
        message = Message(
            channel,
            self.next_ts(),
            user,
            text,
            blocks,
            thread_ts,
            metadata,
            files,
            ephemeral_for,
        )
        self.messages.setdefault(channel, []).append(message)
        self.changed()
        return message

    def find(self, channel: str, ts: str) -> Message | None:
        return next((m for m in self.messages.get(channel, []) if m.ts == ts), None)

    def delete(self, message: Message) -> None:
        kept = self.messages.get(message.channel, [])
        if message in kept:
            kept.remove(message)
            self.changed()

    def in_channel(self, channel: str) -> list[Message]:
        """Every message of `channel`, ephemeral ones too, oldest first."""
        return list(self.messages.get(channel, []))

    # --- views -----------------------------------------------------------------------------

    def _new_view(self, user: str, kind: ViewKind, body: JSON, root: str | None) -> View:
        view_id = f"V0SB{next(self._view_ids):07d}"
        return View(view_id, user, kind, body, _hash(), root or view_id)

    def stack(self, user: str) -> list[View]:
        return self.modals.get(user, [])

    def top_modal(self, user: str) -> View | None:
        stack = self.modals.get(user)
        return stack[-1] if stack else None

    def open_modal(self, user: str, body: JSON) -> View:
        """A new stack for `user` with this modal (any open one is replaced, as in Slack)."""
        view = self._new_view(user, "modal", body, None)
        self.modals[user] = [view]
        self.changed()
        return view

    def push_modal(self, user: str, body: JSON) -> View:
        stack = self.modals.get(user) or []
        if not stack:
            return self.open_modal(user, body)
        if len(stack) >= STACK_LIMIT:
            raise SlackError("push_limit_reached")
        view = self._new_view(user, "modal", body, stack[0].id)
        view.previous_view_id = stack[-1].id
        stack.append(view)
        self.changed()
        return view

    def publish_home(self, user: str, body: JSON) -> View:
        home = self.homes.get(user)
        if home is None:
            home = self._new_view(user, "home", body, None)
            self.homes[user] = home
        else:
            home.body, home.hash = body, _hash()
        self.changed()
        return home

    def view(self, view_id: str) -> View | None:
        for stack in self.modals.values():
            for view in stack:
                if view.id == view_id:
                    return view
        return next((h for h in self.homes.values() if h.id == view_id), None)

    def view_by_external_id(self, external_id: str) -> View | None:
        views = [v for s in self.modals.values() for v in s] + list(self.homes.values())
        return next((v for v in views if v.external_id == external_id), None)

    def replace_view(self, view: View, body: JSON) -> View:
        """The view's new content: same id, new hash, errors gone."""
        view.body, view.hash, view.errors = body, _hash(), {}
        self.changed()
        return view

    def set_errors(self, view: View, errors: dict[str, str]) -> None:
        view.errors = dict(errors)
        self.changed()

    def close_view(self, view: View) -> list[View]:
        """Close `view` and any view pushed above it; returns what was closed, top first."""
        stack = self.modals.get(view.user) or []
        if view not in stack:
            return []
        at = stack.index(view)
        closed = list(reversed(stack[at:]))
        del stack[at:]
        if not stack:
            self.modals.pop(view.user, None)
        self.changed()
        return closed

    def close_all(self, user: str) -> list[View]:
        stack = self.modals.pop(user, [])
        if stack:
            self.changed()
        return list(reversed(stack))

    # --- trigger ids and response URLs -----------------------------------------------------

    def issue_trigger(self, user: str) -> str:
        # Slack's shape (three dot-separated parts); unguessable, as the page is not the bot.
        trigger = f"{next(_serials)}.{secrets.randbelow(10**9)}.{secrets.token_hex(12)}"
        self._triggers[trigger] = Trigger(user, self._monotonic() + self.trigger_ttl)
        return trigger

    def use_trigger(self, trigger: str) -> str:
        """The person the trigger id was issued to; raises SlackError when it cannot be used."""
        if trigger in self._used_triggers:
            raise SlackError("exchanged_trigger_id")
        issued = self._triggers.get(trigger)
        if issued is None:
            raise SlackError("invalid_trigger_id")
        if self._monotonic() > issued.expires:
            raise SlackError("expired_trigger_id")
        del self._triggers[trigger]
        self._used_triggers.add(trigger)
        return issued.user

    def issue_response_url(self, user: str, channel: str, message_ts: str | None) -> str:
        token = secrets.token_urlsafe(18)
        expires = self._monotonic() + RESPONSE_URL_TTL
        self._response_urls[token] = ResponseUrl(token, user, channel, message_ts, expires)
        return token

    def use_response_url(self, token: str) -> ResponseUrl:
        """The response URL's target, counting one use; raises SlackError when spent."""
        hook = self._response_urls.get(token)
        if hook is None or self._monotonic() > hook.expires:
            raise SlackError("expired_url")
        if hook.uses_left <= 0:
            raise SlackError("used_url")
        hook.uses_left -= 1
        return hook

    # --- files -----------------------------------------------------------------------------

    def issue_upload(self, name: str, length: int) -> Upload:
        upload = Upload(f"F0SB{next(self._file_ids):07d}", name, length)
        self.uploads[upload.id] = upload
        return upload

    def receive(self, file_id: str, content: bytes) -> bool:
        upload = self.uploads.get(file_id)
        if upload is None:
            return False
        upload.content = content
        return True

    def complete(self, file_id: str, title: str | None) -> StoredFile:
        """The uploaded file, kept under its id; raises SlackError(file_not_found)."""
        done = self.files.get(file_id)
        if done is not None:
            return done
        upload = self.uploads.get(file_id)
        if upload is None or upload.content is None:
            raise SlackError("file_not_found")
        stored = StoredFile(upload.id, upload.name, title or upload.name, upload.content)
        self.files[file_id] = stored
        del self.uploads[file_id]
        return stored

    # --- notices ---------------------------------------------------------------------------

    def notify(self, user: str, text: str, level: NoticeLevel = "error") -> Notice:
        notice = Notice(next(self._notice_ids), level, text)
        kept = self.notices.setdefault(user, [])
        kept.append(notice)
        del kept[:-NOTICES_KEPT]
        self.changed()
        return notice

    # --- changes and long polls ------------------------------------------------------------

    def changed(self) -> None:
        """Move the version on and wake every long poll."""
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def close(self) -> None:
        """Wake every long poll now, and answer later ones at once (shutdown)."""
        self._closing = True
        self._changed.set()

    async def wait_for_change(self, since: int, seconds: float) -> int:
        """The version once it is past `since`, or after `seconds`, whichever comes first."""
        deadline = asyncio.get_running_loop().time() + seconds
        while self.version <= since and not self._closing:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                break
        return self.version


# Serial numbers that start the ids of triggers and view hashes, as Slack's start with a time.
_serials = itertools.count(1_700_000_000)


def _hash() -> str:
    return f"{next(_serials)}.{secrets.token_hex(6)}"
