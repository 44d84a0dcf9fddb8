"""Which process runs the scheduler and the outbox relay: exactly one at a time.

Every server process serves HTTP; only the leader schedules and relays.

- PostgreSQL: the leader holds a session-level advisory lock (`pg_try_advisory_lock`) on a
  connection of its own, kept open and checked every few seconds. Followers try again every
  `retry_seconds`. When the leader dies its connection closes and the server frees the lock at
  once (SIGKILL) or, if its host vanished, when TCP keepalives give up (about half a minute);
  a leader that hangs with the lock is cut off by `idle_session_timeout` (PostgreSQL 14+).
  Rows the old leader had in flight are taken back after the relay's lease.
- SQLite: one process. The leader holds an exclusive lock on a file next to the database
  (`<database>.scheduler-lock`); a second process on the same file serves HTTP but refuses to
  lead, and says so, until the first one stops. The operating system frees the lock when the
  holder dies, so whoever takes it next knows nobody else can be sending.
- In-memory SQLite: the process is always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from storage.engine import Database

log = logging.getLogger(__name__)

RETRY_SECONDS = 10.0  # how often a follower tries to become the leader
CHECK_SECONDS = 5.0  # how often the leader checks it still holds the lock
# pg_try_advisory_lock key: the bytes of "slis-sch" as a signed 64-bit integer. Advisory
# locks are per database, so two bots on one server with different databases do not meet.
ADVISORY_LOCK_KEY = int.from_bytes(b"slis-sch", "big", signed=True)
# Server side: notice a vanished client within about half a minute, and drop a session that
# has been idle for a minute (a hung leader; a live one checks every CHECK_SECONDS).
SERVER_SESSION_SETTINGS = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
}
IDLE_SESSION_TIMEOUT = "60s"
# Client side: the same for a vanished server.
CLIENT_KEEPALIVES: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "connect_timeout": 10,
    "application_name": "slis scheduler lock",
}


class Leadership(ABC):
    """Decides whether this process runs the scheduler; see the module docstring."""

    # How often the leader should ask `still_held`; None: leading ends only with `release`.
    check_seconds: float | None = None

    def __init__(self, retry_seconds: float | None = None) -> None:
        self.retry_seconds = RETRY_SECONDS if retry_seconds is None else retry_seconds

    @property
    @abstractmethod
    def sole_process(self) -> bool:
        """True when a new leader knows no earlier leader can still be sending."""

    @abstractmethod
    async def try_acquire(self) -> bool:
        """Become the leader if nobody is; True if this process now leads."""

    async def still_held(self) -> bool:
        """False once this process has lost the leadership (e.g. its lock's connection)."""
        return True

    async def release(self) -> None:  # noqa: B027 - most leaderships hold nothing to free
        """Stop leading and let another process take over."""

    def describe(self) -> str:
        return type(self).__name__

    @staticmethod
    def for_database(
        db: Database, *, retry_seconds: float | None = None, check_seconds: float | None = None
    ) -> Leadership:
        """The leadership that fits the database: advisory lock, lock file, or sole process."""
        url = db.engine.url
        if url.get_backend_name() == "postgresql":
            return AdvisoryLockLeadership(
                db, retry_seconds=retry_seconds, check_seconds=check_seconds
            )
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            path = Path(url.database)
            lock = path.with_name(path.name + ".scheduler-lock")
            return LockFileLeadership(lock, retry_seconds=retry_seconds)
        return SoleLeadership()


class SoleLeadership(Leadership):
    """Always the leader: one process, nothing to share with (in-memory SQLite, tests)."""

    @property
    def sole_process(self) -> bool:
        return True

    async def try_acquire(self) -> bool:
        return True


class LockFileLeadership(Leadership):
    """SQLite: an exclusive lock (flock) on a file beside the database file."""

    def __init__(self, path: Path, *, retry_seconds: float | None = None) -> None:
        super().__init__(retry_seconds)
        self.path = path
        self._fd: int | None = None
        self._said_taken = False

    @property
    def sole_process(self) -> bool:
        return True

    def describe(self) -> str:
        return f"lock file {self.path}"

    async def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        try:
            import fcntl
        except ImportError:  # not POSIX: no file locks; SQLite means one process anyway
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            if not self._said_taken:
                log.warning(
                    "another process on this SQLite database runs the scheduler and the outbox"
                    " relay (it holds %s); this one only serves HTTP. SQLite is for one process:"
                    " use PostgreSQL for several.",
                    self.path,
                )
                self._said_taken = True
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        self._said_taken = False
        return True

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the lock


class AdvisoryLockLeadership(Leadership):
    """PostgreSQL: a session-level advisory lock on a dedicated connection."""

    def __init__(
        self,
        db: Database,
        *,
        retry_seconds: float | None = None,
        check_seconds: float | None = None,
        key: int = ADVISORY_LOCK_KEY,
    ) -> None:
        super().__init__(retry_seconds)
        self.check_seconds: float | None = CHECK_SECONDS if check_seconds is None else check_seconds
        self.key = key
        self._engine = create_engine(
            db.engine.url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args=CLIENT_KEEPALIVES,
        )
        self._conn: Connection | None = None
        self._held = False

    @property
    def sole_process(self) -> bool:
        return False

    def describe(self) -> str:
        return f"PostgreSQL advisory lock {self.key}"

    async def try_acquire(self) -> bool:
        try:
            self._held = await asyncio.to_thread(self._try_lock)
        except Exception as exc:
            log.warning("could not ask for the scheduler lock: %s", type(exc).__name__)
            self._drop()
            self._held = False
        return self._held

    def _try_lock(self) -> bool:
        if self._conn is None:
            self._conn = self._connect()
        return bool(
            self._conn.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            ).scalar()
        )

    def _connect(self) -> Connection:
        conn = self._engine.connect()
        for name, value in SERVER_SESSION_SETTINGS.items():
            conn.execute(text(f"SET {name} = {value}"))
        version = int(conn.execute(text("SHOW server_version_num")).scalar() or 0)
        if version >= 140000:
            conn.execute(text(f"SET idle_session_timeout = '{IDLE_SESSION_TIMEOUT}'"))
        return conn

    async def still_held(self) -> bool:
        """Ask the lock's connection; if it fails (or hangs), the session and with it the lock
        are gone, or soon will be."""
        if not self._held:
            return False
        timeout = 2 * (self.check_seconds or CHECK_SECONDS)
        try:
            await asyncio.wait_for(asyncio.to_thread(self._ping), timeout)
        except Exception as exc:
            log.error("lost the scheduler lock's database connection (%s)", type(exc).__name__)
            self._held = False
            self._drop()
        return self._held

    def _ping(self) -> None:
        conn = self._conn
        if conn is None:
            raise ConnectionError("no connection")
        conn.execute(text("SELECT 1"))

    async def release(self) -> None:
        if self._held:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.to_thread(self._unlock), CHECK_SECONDS)
        self._held = False
        self._drop()
        self._engine.dispose()

    def _unlock(self) -> None:
        if self._conn is not None:
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})

    def _drop(self) -> None:
        """Close the lock's connection without waiting on it (it may be hung)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            threading.Thread(target=_close_quietly, args=(conn,), daemon=True).start()


def _close_quietly(conn: Connection) -> None:
    with contextlib.suppress(Exception):
        conn.close()
