"""A fake Slack Web API (and Socket Mode websocket) on 127.0.0.1 that records every call.

It runs an aiohttp server in its own thread and event loop, so sync tests, async tests and an
app served by uvicorn in another thread can all talk to it. Tell it to fail a method with
`fail(...)`: HTTP 429 with Retry-After, a 5xx, or `{"ok": false, "error": ...}`; to fail every
n-th call with `intermittent(...)`; to enforce a fixed rate limit with `rate_limit(...)`; and
to answer `channel_not_found` for channels added to `missing_channels`.

Posted messages are kept per channel (`posted`), with their message metadata, blocks and
`thread_ts`, and `conversations.history` returns them (metadata only with
`include_all_metadata`), except replies in threads, which `conversations.replies` returns. A
message posted to a user id (U…) goes to the app's direct message with them, `D<user id>`, the
channel `conversations.open` returns. `chat.update` replaces the text and blocks of a message
in place, found by its channel id (a user id will not do, as on Slack) and `ts`, keeping its
metadata unless new metadata is given; `updated` lists the updates it accepted.

Files go the way `files_upload_v2` sends them: `files.getUploadURLExternal` issues a file id
and an upload URL on this fake (`http://127.0.0.1:<port>/upload/<file id>`, recorded as the
method "upload"); the POST there keeps the raw bytes (or the first part of a multipart body);
`files.completeUploadExternal` shares the uploaded files into `channel_id` (in the thread of
`thread_ts`, if given), and `uploaded_files` lists what was shared. A share is also a message
from the bot, as on Slack: its text is the `initial_comment` and it has a `files` list (id,
name, title); `conversations.history` and `conversations.replies` show it in order with the
other messages, while `posted` keeps to what chat.postMessage accepted. `fail(...)` and
`rate_limit(...)` apply to all three, and `Retry-After` is sent whenever `retry_after` is
given, 0 included; `fail(..., after=True)` does the work first and then answers the failure
(Slack completed the upload but the answer was lost). `share_answers_ts` makes
files.completeUploadExternal's answer say where each file was shared (`shares`), which Slack's
answer does not always. `share_file_as` puts a message with a file from anyone (a person,
say) into a conversation.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import BodyPartReader, WSMsgType, web

BOT_USER_ID = "UBOTSLIS"
BOT_ID = "BSLIS"


@dataclass(frozen=True)
class Call:
    """One request the fake received: the API method, its parameters and headers."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    http_method: str = "POST"
    at: float = field(default_factory=time.time)  # when it arrived (wall clock)

    @property
    def token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth.removeprefix("Bearer ") or self.params.get("token")


@dataclass
class Failure:
    """How to fail a method, and how many more times (None: for ever)."""

    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    times: int | None = 1
    after: bool = False  # do what the call asks, then answer the failure


@dataclass
class Intermittent:
    """Fail every `every`-th call with HTTP `status`."""

    status: int
    every: int
    seen: int = 0


@dataclass
class RateLimit:
    """At most `per_second` accepted calls per method in any one-second window."""

    per_second: int
    methods: frozenset[str] | None  # None: every method
    retry_after: int
    accepted: dict[str, collections.deque[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Posted:
    """A message chat.postMessage accepted."""

    channel: str
    ts: str
    text: str | None
    metadata: dict[str, Any] | None
    at: float  # wall clock
    blocks: list[dict[str, Any]] | None = None
    thread_ts: str | None = None  # the parent's ts, for a reply in a thread
    updates: int = 0  # how many times chat.update changed it
    # A file share (files.completeUploadExternal): the files it carries (id, name, title).
    files: tuple[dict[str, str], ...] = ()
    user: str = BOT_USER_ID  # who sent it: the bot, unless a test says a person did

    @property
    def key(self) -> str | None:
        """The outbox key the message carries in its metadata, if any."""
        if not self.metadata or self.metadata.get("event_type") != "slis_outbox":
            return None
        key = (self.metadata.get("event_payload") or {}).get("key")
        return str(key) if key is not None else None


@dataclass(frozen=True)
class Updated:
    """A change chat.update accepted: the message's channel and ts and its new content."""

    channel: str
    ts: str
    text: str | None
    blocks: list[dict[str, Any]] | None
    at: float  # wall clock


@dataclass(frozen=True)
class UploadedFile:
    """A file files.completeUploadExternal shared (one entry per file per completion)."""

    file_id: str
    filename: str
    title: str
    channel_id: str | None
    content: bytes = field(repr=False)
    initial_comment: str | None = None
    thread_ts: str | None = None  # the parent's ts, for a share in a thread
    ts: str | None = None  # the ts of the message that shared it (None: not shared)


@dataclass
class FakeSlackApi:
    """The fake server. `url` is the Web API base (SLACK_API_URL)."""

    team_id: str = "T0ESSEX"
    emails: dict[str, str | None] = field(default_factory=dict)
    socket_envelopes: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    socket_received: list[dict[str, Any]] = field(default_factory=list)

    missing_channels: set[str] = field(default_factory=set)
    share_answers_ts: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, Failure] = {}
        self._intermittent: dict[str, Intermittent] = {}
        self._rate_limit: RateLimit | None = None
        self._posted: dict[str, list[Posted]] = {}
        self._updated: list[Updated] = []
        self._issued: dict[str, str] = {}  # file id -> filename, from getUploadURLExternal
        self._file_bytes: dict[str, bytes] = {}  # file id -> what was POSTed to its upload URL
        self._uploaded: list[UploadedFile] = []
        self._file_ids = itertools.count(1)
        self.limited_at: list[float] = []  # when each 429 was answered (wall clock)
        self._ts = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self.port = 0

    # --- control ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def hooks_url(self) -> str:
        """A base for response_url values that land on this fake."""
        return f"http://127.0.0.1:{self.port}/hooks/"

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        times: int | None = 1,
        after: bool = False,
    ) -> None:
        """Make the next `times` calls to `method` fail; with `after`, only once it has done
        what it was asked (the answer is lost, not the work)."""
        if status == 429 and error is None:
            error = "ratelimited"
        with self._lock:
            self._failures[method] = Failure(status, error, retry_after, times, after)

    def intermittent(self, method: str, *, status: int = 500, every: int = 3) -> None:
        """Fail every `every`-th call to `method` with HTTP `status`, until told otherwise."""
        with self._lock:
            self._intermittent[method] = Intermittent(status, every)

    def rate_limit(
        self, per_second: int, *, methods: Iterable[str] | None = None, retry_after: int = 1
    ) -> None:
        """Answer 429 (with Retry-After) to a call beyond `per_second` accepted calls of its
        method in the last second; `methods` None means every method."""
        with self._lock:
            chosen = frozenset(methods) if methods is not None else None
            self._rate_limit = RateLimit(per_second, chosen, retry_after)

    def posted(self, channel: str | None = None) -> list[Posted]:
        """Messages chat.postMessage accepted (in `channel`, or anywhere), oldest first; file
        shares are in `uploaded_files` and `conversation`."""
        return [m for m in self.conversation(channel) if not m.files and m.user == BOT_USER_ID]

    def conversation(self, channel: str | None = None) -> list[Posted]:
        """Every message (in `channel`, or anywhere), file shares included, oldest first."""
        with self._lock:
            if channel is not None:
                return list(self._posted.get(channel, []))
            return sorted((m for msgs in self._posted.values() for m in msgs), key=lambda m: m.at)

    def share_file_as(
        self,
        user: str,
        channel: str,
        filename: str,
        *,
        text: str = "",
        thread_ts: str | None = None,
    ) -> str:
        """`user` (a person, or BOT_USER_ID) shares a file called `filename` into `channel`
        with `text`, as if through Slack's own client; returns the message's ts."""
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        with self._lock:
            file_id = f"F{next(self._file_ids):08d}"
            files = ({"id": file_id, "name": filename, "title": filename},)
            shared = Posted(
                channel, ts, text, None, time.time(), thread_ts=thread_ts, files=files, user=user
            )
            self._posted.setdefault(channel, []).append(shared)
        return ts

    def updated(self, channel: str | None = None) -> list[Updated]:
        """Updates chat.update accepted (in `channel`, or anywhere), in order."""
        with self._lock:
            return [u for u in self._updated if channel is None or u.channel == channel]

    def message(self, channel: str, ts: str) -> Posted | None:
        """The message `ts` in `channel` as it is now (after any updates)."""
        with self._lock:
            return next((m for m in self._posted.get(channel, []) if m.ts == ts), None)

    def uploaded_files(self, channel: str | None = None) -> list[UploadedFile]:
        """Files shared by files.completeUploadExternal (into `channel`, or anywhere), in order."""
        with self._lock:
            return [f for f in self._uploaded if channel is None or f.channel_id == channel]

    def posted_keys(self) -> collections.Counter[str]:
        """How many times each outbox key arrived."""
        return collections.Counter(m.key for m in self.posted() if m.key is not None)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def methods(self) -> list[str]:
        with self._lock:
            return [c.method for c in self.calls]

    async def wait_for(self, method: str, count: int = 1, seconds: float = 5.0) -> list[Call]:
        """The calls to `method` once there are at least `count` of them."""
        deadline = time.monotonic() + seconds
        while len(found := self.calls_to(method)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} call(s) to {method}; got {self.methods()}")
            await asyncio.sleep(0.01)
        return found

    async def wait_for_socket(self, count: int = 1, seconds: float = 5.0) -> list[dict[str, Any]]:
        """The messages the Socket Mode client sent, once there are at least `count`."""
        deadline = time.monotonic() + seconds
        while True:
            with self._lock:
                received = list(self.socket_received)
            if len(received) >= count:
                return received
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} socket message(s); got {received}")
            await asyncio.sleep(0.01)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeSlackApi:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            app = web.Application()
            app.router.add_route("*", "/api/{method}", self._api)
            app.router.add_post("/hooks/{path:.*}", self._hook)
            app.router.add_post("/upload/{file_id}", self._upload)
            app.router.add_get("/socket", self._socket)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()
            ready.set()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-slack-api", daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise RuntimeError("the fake Slack API did not start")
        return self

    def stop(self) -> None:
        loop, runner = self._loop, self._runner
        if loop is None or runner is None:
            return

        async def shutdown() -> None:
            for ws in list(self._sockets):
                await ws.close()
            await runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        loop.close()
        self._loop = None

    def __enter__(self) -> FakeSlackApi:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- the server ---------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if raw:
            if request.content_type == "application/json":
                params.update(json.loads(raw))
            else:
                params.update(parse_qsl(raw.decode(), keep_blank_values=True))
        return params

    def _record(self, call: Call) -> Failure | None:
        with self._lock:
            self.calls.append(call)
            failure = self._failures.get(call.method)
            if failure is None:
                return None
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self._failures[call.method]
            return failure

    def _limited(self, call: Call) -> Failure | None:
        """A 429 or an intermittent failure for this call, counting it in either case."""
        with self._lock:
            limit = self._rate_limit
            if limit is not None and (limit.methods is None or call.method in limit.methods):
                window = limit.accepted.setdefault(call.method, collections.deque())
                while window and window[0] <= call.at - 1.0:
                    window.popleft()
                if len(window) >= limit.per_second:
                    self.limited_at.append(time.time())
                    return Failure(429, "ratelimited", limit.retry_after)
            flaky = self._intermittent.get(call.method)
            if flaky is not None:
                flaky.seen += 1
                if flaky.seen % flaky.every == 0:
                    return Failure(flaky.status)
            if limit is not None and (limit.methods is None or call.method in limit.methods):
                limit.accepted[call.method].append(call.at)
            return None

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await self._params(request)
        call = Call(method, params, dict(request.headers), request.method)
        failure = self._record(call) or self._limited(call)
        if failure is not None:
            if failure.after:
                self._answer(method, params)
            return self._failed(failure)
        return web.json_response(self._answer(method, params))

    @staticmethod
    def _failed(failure: Failure) -> web.Response:
        headers = None
        if failure.retry_after is not None:
            headers = {"Retry-After": str(failure.retry_after)}
        if failure.status >= 500:
            return web.Response(status=failure.status, text="upstream trouble", headers=headers)
        body = {"ok": False, "error": failure.error or "fatal_error"}
        return web.json_response(body, status=failure.status, headers=headers)

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        channel = str(params.get("channel", ""))
        if method in (
            "chat.postMessage",
            "chat.update",
            "conversations.history",
            "conversations.replies",
        ) and (channel in self.missing_channels):
            return {"ok": False, "error": "channel_not_found"}
        match method:
            case "auth.test":
                return {
                    "ok": True,
                    "url": "https://fake.slack.test/",
                    "team": "Fake workspace",
                    "user": "slis",
                    "team_id": self.team_id,
                    "user_id": BOT_USER_ID,
                    "bot_id": BOT_ID,
                }
            case "users.info":
                user = params.get("user", "")
                if user not in self.emails:
                    return {"ok": False, "error": "user_not_found"}
                email = self.emails[user]
                profile = {"real_name": user} | ({"email": email} if email else {})
                return {
                    "ok": True,
                    "user": {"id": user, "team_id": self.team_id, "profile": profile},
                }
            case "chat.postMessage":
                message = {"text": params.get("text"), "user": BOT_USER_ID, "ts": ts}
                where = self._store(channel, ts, params)
                return {"ok": True, "channel": where, "ts": ts, "message": message}
            case "chat.update":
                return self._update(channel, params)
            case "conversations.history":
                return self._history(channel, params)
            case "conversations.replies":
                return self._replies(channel, params)
            case "chat.postEphemeral":
                return {"ok": True, "message_ts": ts}
            case "views.publish" | "views.open":
                view = params.get("view")
                view = json.loads(view) if isinstance(view, str) else (view or {})
                return {"ok": True, "view": {"id": f"V{next(self._ts):08d}", **view}}
            case "conversations.open":
                users = str(params.get("users", ""))
                return {"ok": True, "channel": {"id": "D" + users.replace(",", "")}}
            case "apps.connections.open":
                return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
            case "files.getUploadURLExternal":
                return self._issue_upload(params)
            case "files.completeUploadExternal":
                return self._complete_upload(params)
        return {"ok": False, "error": "unknown_method"}

    def _issue_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = str(params.get("filename") or "")
        if not filename or not str(params.get("length") or "").isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        with self._lock:
            file_id = f"F{next(self._file_ids):08d}"
            self._issued[file_id] = filename
        # On this fake, never on the internet: the upload is a plain POST to this address.
        upload_url = f"http://127.0.0.1:{self.port}/upload/{file_id}"
        return {"ok": True, "upload_url": upload_url, "file_id": file_id}

    def _complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        try:
            wanted = json.loads(str(params.get("files") or ""))
        except json.JSONDecodeError:
            return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(wanted, list) or not wanted:
            return {"ok": False, "error": "invalid_arguments"}
        channel = params.get("channel_id")
        channel = None if channel is None else str(channel)
        if channel is not None and channel in self.missing_channels:
            return {"ok": False, "error": "channel_not_found"}
        comment = params.get("initial_comment")
        comment = None if comment is None else str(comment)
        thread_ts = params.get("thread_ts")
        thread_ts = None if thread_ts is None else str(thread_ts)
        # The share is a message in the channel (a user id stands for the DM with them).
        where = None if channel is None else f"D{channel}" if channel[:1] in ("U", "W") else channel
        ts = None if where is None else f"{int(time.time())}.{next(self._ts):06d}"
        done: list[UploadedFile] = []
        with self._lock:
            for item in wanted:
                file_id = str(item.get("id") or "") if isinstance(item, dict) else ""
                if file_id not in self._file_bytes:
                    return {"ok": False, "error": "file_not_found"}
                filename = self._issued[file_id]
                title = str(item.get("title") or filename)
                content = self._file_bytes[file_id]
                done.append(
                    UploadedFile(file_id, filename, title, channel, content, comment, thread_ts, ts)
                )
            self._uploaded.extend(done)
            files = tuple({"id": f.file_id, "name": f.filename, "title": f.title} for f in done)
            if where is not None and ts is not None:
                share = Posted(
                    where, ts, comment, None, time.time(), thread_ts=thread_ts, files=files
                )
                self._posted.setdefault(where, []).append(share)
        answered: list[dict[str, Any]] = [dict(f) for f in files]
        if self.share_answers_ts and where is not None:
            kind = "private" if where[:1] in ("D", "G") else "public"
            for f in answered:
                f["shares"] = {kind: {where: [{"ts": ts}]}}
        return {"ok": True, "files": answered}

    def _store(self, channel: str, ts: str, params: dict[str, Any]) -> str:
        """Keep a posted message; returns the channel it landed in."""
        where = f"D{channel}" if channel[:1] in ("U", "W") else channel
        metadata = params.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        text = params.get("text")
        thread_ts = params.get("thread_ts")
        posted = Posted(
            where,
            ts,
            None if text is None else str(text),
            metadata,
            time.time(),
            blocks=_blocks(params.get("blocks")),
            thread_ts=None if thread_ts is None else str(thread_ts),
        )
        with self._lock:
            self._posted.setdefault(where, []).append(posted)
        return where

    def _update(self, channel: str, params: dict[str, Any]) -> dict[str, Any]:
        """chat.update: new text and blocks for the message `ts` in the channel `channel`."""
        ts = str(params.get("ts") or "")
        text = params.get("text")
        blocks = _blocks(params.get("blocks"))
        metadata = params.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        with self._lock:
            messages = self._posted.get(channel, [])
            at = next((i for i, m in enumerate(messages) if m.ts == ts), None)
            if at is None:
                if channel[:1] in ("U", "W") or not channel:
                    return {"ok": False, "error": "channel_not_found"}
                return {"ok": False, "error": "message_not_found"}
            old = messages[at]
            messages[at] = replace(
                old,
                text=old.text if text is None else str(text),
                blocks=old.blocks if blocks is None else blocks,
                metadata=old.metadata if metadata is None else metadata,
                updates=old.updates + 1,
            )
            self._updated.append(Updated(channel, ts, messages[at].text, blocks, time.time()))
        return {"ok": True, "channel": channel, "ts": ts, "text": messages[at].text}

    def _history(self, channel: str, params: dict[str, Any]) -> dict[str, Any]:
        """conversations.history: newest first, from `oldest`, paged by `limit` and `cursor`."""
        oldest = float(params.get("oldest") or 0)
        limit = int(params.get("limit") or 100)
        offset = int(params.get("cursor") or 0)
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        with self._lock:
            found = [
                m
                for m in self._posted.get(channel, [])
                if float(m.ts) >= oldest and m.thread_ts in (None, m.ts)
            ]
        found.reverse()
        return self._page(found, offset, limit, with_metadata)

    def _replies(self, channel: str, params: dict[str, Any]) -> dict[str, Any]:
        """conversations.replies: the thread of `ts`, its first message first, from `oldest`."""
        parent = str(params.get("ts") or "")
        oldest = float(params.get("oldest") or 0)
        limit = int(params.get("limit") or 100)
        offset = int(params.get("cursor") or 0)
        with_metadata = str(params.get("include_all_metadata", "")).lower() in ("1", "true")
        with self._lock:
            messages = self._posted.get(channel, [])
            if not any(m.ts == parent for m in messages):
                return {"ok": False, "error": "thread_not_found"}
            found = [
                m
                for m in messages
                if m.ts == parent or (m.thread_ts == parent and float(m.ts) >= oldest)
            ]
        return self._page(found, offset, limit, with_metadata)

    @staticmethod
    def _page(found: list[Posted], offset: int, limit: int, with_metadata: bool) -> dict[str, Any]:
        page = found[offset : offset + limit]
        messages = []
        for m in page:
            message: dict[str, Any] = {"type": "message", "user": m.user}
            if m.user == BOT_USER_ID:
                message["bot_id"] = BOT_ID
            message.update(text=m.text, ts=m.ts)
            if m.thread_ts is not None:
                message["thread_ts"] = m.thread_ts
            if with_metadata and m.metadata is not None:
                message["metadata"] = m.metadata
            if m.files:
                message["files"] = [dict(f) for f in m.files]
                message["upload"] = True
            messages.append(message)
        more = offset + limit < len(found)
        return {
            "ok": True,
            "messages": messages,
            "has_more": more,
            "response_metadata": {"next_cursor": str(offset + limit) if more else ""},
        }

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload URL: keeps the bytes and answers as Slack's upload host does."""
        file_id = request.match_info["file_id"]
        call = Call("upload", {"file_id": file_id}, dict(request.headers))
        failure = self._record(call) or self._limited(call)
        if failure is not None and not failure.after:
            return self._failed(failure)
        if request.content_type.startswith("multipart/"):
            content = b""
            async for part in await request.multipart():
                if isinstance(part, BodyPartReader):
                    content = await part.read()
                    break
        else:
            content = await request.read()
        with self._lock:
            if file_id not in self._issued:
                return web.Response(status=404, text="unknown upload")
            self._file_bytes[file_id] = content
        if failure is not None:
            return self._failed(failure)
        return web.Response(text=f"OK - {len(content)}")

    async def _hook(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        self._record(Call("response_url", params, dict(request.headers)))
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        self._record(Call("socket", dict(request.query), dict(request.headers), "GET"))
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {}})
            for envelope in self.socket_envelopes:
                await ws.send_json(envelope)
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    with self._lock:
                        self.socket_received.append(json.loads(msg.data))
        finally:
            self._sockets.discard(ws)
        return ws


def _blocks(value: Any) -> list[dict[str, Any]] | None:
    """Blocks as sent: a list in a JSON body, a JSON string in a form."""
    if isinstance(value, str):
        value = json.loads(value)
    return list(value) if isinstance(value, list) else None


@pytest.fixture
def fake_slack() -> Iterator[FakeSlackApi]:
    """A running fake Slack Web API; see `.calls`, `.calls_to(method)`, `.fail(...)`."""
    with FakeSlackApi() as fake:
        yield fake
