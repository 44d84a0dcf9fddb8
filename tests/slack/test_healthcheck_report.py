"""`/slis healthcheck report` end to end: signed slash commands, the report in the asker's DM
with its chart, CSV and XLSX uploaded through Slack's file upload methods, and refusals."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import openpyxl
import pytest
from matplotlib import image

from storage.engine import Database
from storage.models import ChatIdentity
from tests.factories import SEEDED_AT
from tests.fakes.slack_api import FakeSlackApi
from tests.services.healthcheck_world import (
    OFFICER,
    TENDRING,
    WEST_CHAIR,
    ReportWorld,
    build_report_world,
    healthcheck_rounds,
)
from tests.slack.harness import SlackHarness, all_text, settle, slack_settings

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
USERS = {OFFICER: "U0OFFICER", WEST_CHAIR: "U0WESTCHAIR"}


@dataclass
class ReportSlack:
    harness: SlackHarness
    world: ReportWorld
    team: str

    async def reply(self, text: str, email: str) -> dict[str, object]:
        return await self.harness.reply(text, user=USERS[email], team=self.team)


@pytest.fixture
async def reports(
    database_url: str, db: Database, fake_slack: FakeSlackApi
) -> AsyncIterator[ReportSlack]:
    """The app over the report world (two healthcheck rounds), with an LA officer and the West
    chair linked to Slack."""
    from bot.app import create_app

    rw = build_report_world(db)
    healthcheck_rounds(rw, anonymous=True)
    with db.session() as s:
        for email, user in USERS.items():
            s.add(
                ChatIdentity(
                    tenant_id=rw.tenant_id,
                    person_id=rw.person(email),
                    platform="slack",
                    workspace_id=rw.world.workspace,
                    user_id=user,
                    linked_at=SEEDED_AT,
                )
            )
    app = create_app(slack_settings(database_url, fake_slack.url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://slis.test") as http:
            yield ReportSlack(SlackHarness(http, fake_slack, db), rw, rw.world.workspace)


async def test_the_report_goes_to_the_askers_dm_with_a_chart_and_exports(
    reports: ReportSlack, fake_slack: FakeSlackApi
) -> None:
    round_id = reports.world.rounds["now"]
    ack = await reports.reply(f"healthcheck report {round_id} {TENDRING}", OFFICER)
    await settle(30)
    assert ack["response_type"] == "ephemeral"
    assert "direct messages" in all_text(ack)

    dm = "D" + USERS[OFFICER]
    [message] = fake_slack.posted(dm)
    assert "Partnership healthcheck" in (message.text or "")
    files = {f.filename.rsplit(".", 1)[-1]: f for f in fake_slack.uploaded_files(dm)}
    assert set(files) == {"png", "csv", "xlsx"}
    for method in ("files.getUploadURLExternal", "upload", "files.completeUploadExternal"):
        assert fake_slack.calls_to(method), method

    png = files["png"].content
    assert png.startswith(PNG_MAGIC)
    pixels = image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[0] > 200 and pixels.shape[1] > 200

    rows = list(csv.DictReader(io.StringIO(files["csv"].content.decode("utf-8"))))
    book = openpyxl.load_workbook(io.BytesIO(files["xlsx"].content), read_only=True)
    results = list(book["Results"].iter_rows(values_only=True))
    header, body = results[0], results[1:]
    assert list(header) == list(rows[0])
    assert len(body) == len(rows)
    # The CSV and the XLSX hold the same numbers, row by row.
    for csv_row, xlsx_row in zip(rows, body, strict=True):
        for column, value in zip(header, xlsx_row, strict=True):
            assert _same(csv_row[str(column)], value), (column, csv_row, xlsx_row)
    means = [r for r in rows if r["group"] == TENDRING and r["question_id"] == "vision"]
    assert means and means[0]["mean"], "Tendring's mean rating for vision is reported"


async def test_a_chair_asking_for_another_quadrant_is_told_who_may(
    reports: ReportSlack, fake_slack: FakeSlackApi
) -> None:
    ack = await reports.reply("healthcheck report North East", WEST_CHAIR)
    text = all_text(ack)
    assert ack["response_type"] == "ephemeral"
    assert "North East" in text and "LA officers" in text
    assert not fake_slack.uploaded_files()


def _same(text: str | None, value: object) -> bool:
    """A CSV cell (text) and an XLSX cell (typed) hold the same value."""
    if value is None or value == "":
        return not text
    if isinstance(value, bool):
        return (text or "").lower() in (str(value).lower(), str(int(value)))
    if isinstance(value, int | float):
        return text is not None and float(text) == pytest.approx(float(value))
    return text == str(value)
