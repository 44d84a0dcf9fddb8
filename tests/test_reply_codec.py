"""The outbox's Reply codec refuses replies with files: those go straight to a person's DM."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot.reply_codec import reply_from_json, reply_to_json
from bot.services.outbox import Recipient, enqueue
from bot.types import Attachment, ConversationRef, Paragraph, Platform, Reply
from storage.engine import Database
from storage.outbox_tables import OutboxMessage
from tests.factories import build_world

CHART = Attachment("chart.png", "Chart", b"\x89PNG\r\n\x1a\n", "image/png")
EXPORT = Attachment("answers.csv", "Answers", b"a,b\n1,2\n", "text/csv")


def test_a_reply_with_files_is_refused() -> None:
    reply = Reply("Healthcheck report", (Paragraph("Attached."),), files=(CHART, EXPORT))
    with pytest.raises(ValueError, match=r"files \(chart\.png, answers\.csv\).*outbox"):
        reply_to_json(reply)


def test_a_reply_without_files_still_round_trips() -> None:
    reply = Reply("Healthcheck report", (Paragraph("No files here."),))
    data = reply_to_json(reply)
    assert "files" not in data
    assert reply_from_json(data) == reply


def test_the_outbox_adds_nothing_for_a_reply_with_files(db: Database) -> None:
    world = build_world(db, workspace="T0TEST")
    to = Recipient(conversation=ConversationRef(Platform.SLACK, "T0TEST", "C1"))
    with pytest.raises(ValueError, match="files"), db.session() as s:
        enqueue(
            s,
            tenant_id=world.tenant_id,
            key="report:1",
            to=to,
            reply=Reply("Report", files=(EXPORT,)),
            not_before=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
        )
    with db.session() as s:
        assert s.exec(select(OutboxMessage)).all() == []
