"""The outbox's Reply codec: small files (an .ics invitation) round-trip, for a person only;
large ones (charts, exports) are refused and go straight to the asker's DM."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot.reply_codec import FILE_LIMIT, reply_from_json, reply_to_json
from bot.services.outbox import Recipient, enqueue
from bot.types import Attachment, ConversationRef, Paragraph, Platform, Reply
from storage.engine import Database
from storage.outbox_tables import OutboxMessage
from tests.factories import build_world

CHART = Attachment("chart.png", "Chart", b"\x89PNG\r\n\x1a\n", "image/png")
EXPORT = Attachment("answers.csv", "Answers", b"a,b\n1,2\n", "text/csv")


def test_a_reply_with_small_files_round_trips() -> None:
    reply = Reply("Healthcheck report", (Paragraph("Attached."),), files=(CHART, EXPORT))
    data = reply_to_json(reply)
    assert [f["filename"] for f in data["files"]] == ["chart.png", "answers.csv"]
    assert reply_from_json(data) == reply


def test_a_reply_with_a_large_file_is_refused() -> None:
    big = Attachment("chart.png", "Chart", b"x" * (FILE_LIMIT + 1), "image/png")
    with pytest.raises(ValueError, match=r"files \(chart\.png\).*outbox"):
        reply_to_json(Reply("Healthcheck report", files=(big,)))


def test_a_file_that_is_not_base64_is_malformed() -> None:
    data = reply_to_json(Reply("Invite", files=(EXPORT,)))
    data["files"][0]["content"] = "not base64!"
    with pytest.raises(ValueError, match="malformed"):
        reply_from_json(data)


def test_a_reply_without_files_still_round_trips() -> None:
    reply = Reply("Healthcheck report", (Paragraph("No files here."),))
    data = reply_to_json(reply)
    assert "files" not in data
    assert reply_from_json(data) == reply


def test_the_outbox_takes_no_files_for_a_channel(db: Database) -> None:
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
            now=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
        )
    with db.session() as s:
        assert s.exec(select(OutboxMessage)).all() == []


def test_the_outbox_takes_a_small_file_for_a_person(db: Database) -> None:
    world = build_world(db, workspace="T0TEST")
    with db.session() as s:
        assert enqueue(
            s,
            tenant_id=world.tenant_id,
            key="invite:1",
            to=Recipient(person_id=world.people["ada.head@schools.example.org"]),
            reply=Reply("Invitation", files=(EXPORT,)),
            not_before=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
            now=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
        )
    with db.session() as s:
        row = s.exec(select(OutboxMessage)).one()
        assert reply_from_json(row.payload).files == (EXPORT,)
