"""Workspaces that uninstall the app, and install it again.

When a Slack workspace uninstalls the app (or revokes its bot token) the workspace is marked
uninstalled: its conversations are marked removed, nothing more is delivered there (the outbox
parks rows for it, see `bot.services.outbox`), and adapters in this process that hold its token
are told to drop it (`on_uninstall`). Nothing else is deleted: the directory, the records and the
chat ids stay until an administrator erases people or the retention purge removes them.

A reinstall gives the workspace a new token, which reaches the bot through its configuration; the
adapter that finds the token working for a marked workspace reports it with `installed`, which
clears the mark and puts back the conversations the uninstall removed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.ports import Clock
from bot.services.audit import record
from bot.types import Platform
from storage.conversation_tables import ChatConversation
from storage.engine import Database
from storage.models import ChatWorkspace, Tenant, maybe_aware

log = logging.getLogger(__name__)

# The `last_error` of an outbox row parked because its workspace uninstalled the app.
UNINSTALLED_ERROR = (
    "the workspace uninstalled the app (once it is installed again,"
    " `slis outbox retry` sends this message)"
)
UNINSTALL_ACTION = "workspace.uninstalled"
REINSTALL_ACTION = "workspace.reinstalled"

Listener = Callable[[Platform, str], None]


class Uninstall(StrEnum):
    """What an uninstall notice did."""

    DONE = "done"  # the workspace is marked now
    ALREADY = "already"  # it was marked before (a repeated or second notice)
    UNKNOWN = "unknown"  # no local authority here has this workspace


@dataclass(frozen=True)
class UninstallOutcome:
    result: Uninstall
    tenant_id: int | None = None
    conversations: int = 0  # conversations marked removed


class WorkspaceService:
    """Marks workspaces uninstalled and installed again; tells listeners in this process."""

    def __init__(self, db: Database, clock: Clock, default_la_code: int | None = None) -> None:
        self._db = db
        self._clock = clock
        self._default_la_code = default_la_code
        self._listeners: list[Listener] = []

    def on_uninstall(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(platform, workspace_id)` after each new uninstall handled in this
        process (to drop a token held in memory); returns what removes it again."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def uninstalled(self, platform: Platform, workspace_id: str, reason: str) -> UninstallOutcome:
        """The workspace uninstalled the app or revoked its bot token (`reason`: the platform's
        event name). The first notice marks it, marks its conversations removed and records an
        audit entry, in one transaction; repeats change nothing."""
        now = self._clock.now()
        with self._db.session() as session:
            row = self._workspace(session, platform, workspace_id)
            if row is None:
                log.info(
                    "%s workspace %s is not known here: nothing to stop", platform, workspace_id
                )
                return UninstallOutcome(Uninstall.UNKNOWN)
            # Conditional, so that two notices at once (Slack sends app_uninstalled and
            # tokens_revoked together) mark it once.
            marked = session.exec(
                update(ChatWorkspace)
                .where(
                    col(ChatWorkspace.id) == row.id,
                    col(ChatWorkspace.uninstalled_at).is_(None),
                )
                .values(uninstalled_at=now)
            )
            if not marked.rowcount:
                return UninstallOutcome(Uninstall.ALREADY, row.tenant_id)
            removed = session.exec(
                update(ChatConversation)
                .where(
                    col(ChatConversation.platform) == platform.value,
                    col(ChatConversation.workspace_id) == workspace_id,
                    col(ChatConversation.installed).is_(True),
                )
                .values(installed=False, removed_at=now, updated_at=now)
            )
            conversations = int(removed.rowcount or 0)
            record(
                session,
                tenant_id=row.tenant_id,
                at=now,
                action=UNINSTALL_ACTION,
                subject=f"{platform.value} workspace {workspace_id}",
                platform=platform.value,
                detail={"reason": reason, "conversations_removed": conversations},
            )
        log.warning(
            "%s workspace %s uninstalled the app (%s): deliveries there have stopped",
            platform,
            workspace_id,
            reason,
        )
        for listener in list(self._listeners):
            try:
                listener(platform, workspace_id)
            except Exception:
                log.exception("a listener failed on the uninstall of %s", workspace_id)
        return UninstallOutcome(Uninstall.DONE, row.tenant_id, conversations)

    def installed(self, platform: Platform, workspace_id: str) -> bool:
        """The workspace has the app again (its token works): clear the mark and put back the
        conversations its uninstall removed. False if it was not marked."""
        now = self._clock.now()
        with self._db.session() as session:
            row = session.exec(
                select(ChatWorkspace).where(
                    ChatWorkspace.platform == platform.value,
                    ChatWorkspace.workspace_id == workspace_id,
                )
            ).first()
            if row is None or row.uninstalled_at is None:
                return False
            gone_at = row.uninstalled_at
            cleared = session.exec(
                update(ChatWorkspace)
                .where(
                    col(ChatWorkspace.id) == row.id,
                    col(ChatWorkspace.uninstalled_at).is_not(None),
                )
                .values(uninstalled_at=None)
            )
            if not cleared.rowcount:
                return False
            # Only those the uninstall removed: a conversation the bot left before stays left.
            session.exec(
                update(ChatConversation)
                .where(
                    col(ChatConversation.platform) == platform.value,
                    col(ChatConversation.workspace_id) == workspace_id,
                    col(ChatConversation.installed).is_(False),
                    col(ChatConversation.removed_at) == gone_at,
                )
                .values(installed=True, removed_at=None, updated_at=now)
            )
            record(
                session,
                tenant_id=row.tenant_id,
                at=now,
                action=REINSTALL_ACTION,
                subject=f"{platform.value} workspace {workspace_id}",
                platform=platform.value,
            )
        log.warning("%s workspace %s has the app again: deliveries resume", platform, workspace_id)
        return True

    def uninstalled_ids(self, platform: Platform) -> list[str]:
        """The workspaces of `platform` marked uninstalled."""
        with self._db.session() as session:
            return list(
                session.exec(
                    select(ChatWorkspace.workspace_id)
                    .where(
                        ChatWorkspace.platform == platform.value,
                        col(ChatWorkspace.uninstalled_at).is_not(None),
                    )
                    .order_by(col(ChatWorkspace.workspace_id))
                ).all()
            )

    def uninstalled_at(self, platform: Platform, workspace_id: str) -> datetime | None:
        """When the workspace uninstalled the app, if it is marked."""
        with self._db.session() as session:
            at = session.exec(
                select(ChatWorkspace.uninstalled_at).where(
                    ChatWorkspace.platform == platform.value,
                    ChatWorkspace.workspace_id == workspace_id,
                )
            ).first()
        return maybe_aware(at)

    def _workspace(
        self, session: Session, platform: Platform, workspace_id: str
    ) -> ChatWorkspace | None:
        """The workspace's row; for a workspace the default local authority serves without
        one, a row made now, so the mark has somewhere to live."""
        row = session.exec(
            select(ChatWorkspace).where(
                ChatWorkspace.platform == platform.value,
                ChatWorkspace.workspace_id == workspace_id,
            )
        ).first()
        if row is not None or self._default_la_code is None:
            return row
        tenant_id = session.exec(
            select(Tenant.id).where(Tenant.la_code == self._default_la_code)
        ).first()
        if tenant_id is None:
            return None
        row = ChatWorkspace(tenant_id=tenant_id, platform=platform.value, workspace_id=workspace_id)
        session.add(row)
        session.flush()
        return row


def gone_workspaces(session: Session) -> frozenset[tuple[str, str]]:
    """(platform, workspace id) of every workspace marked uninstalled: nothing goes there."""
    rows = session.exec(
        select(ChatWorkspace.platform, ChatWorkspace.workspace_id).where(
            col(ChatWorkspace.uninstalled_at).is_not(None)
        )
    ).all()
    return frozenset((platform, workspace) for platform, workspace in rows)
