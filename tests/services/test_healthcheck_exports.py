"""Healthcheck report exports and charts: CSV and XLSX hold the report's numbers and no more,
suppressed groups have no numbers anywhere, and the same report gives the same bytes.

Expected figures are worked out by hand from the answers in `healthcheck_world`.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import datetime

import matplotlib.image
import pytest
from openpyxl import load_workbook

from bot.services.healthcheck import charts, exports
from bot.services.healthcheck.report import ReportService, RoundReport
from storage.engine import Database
from tests.services.healthcheck_world import (
    EXTRA_PEOPLE,
    HARLOW,
    KEYS,
    LEAD,
    OFFICER,
    TENDRING,
    WREN_HEAD,
    WRENFOLD,
    WRENFOLD_SCHOOLS,
    build_report_world,
    checkin_round,
    healthcheck_rounds,
)

PNG = b"\x89PNG\r\n\x1a\n"
RAG = ("red", "amber", "green")
NUMBERS = ("responses", "n", "mean", "count", "mean_tier", "previous_mean", "change")
NAMES = (
    "Ada Fictional",
    "Ben Imaginary",
    "Fay Unlinked",
    "Hal Madeup",
    *EXTRA_PEOPLE.values(),
    *(head for _, _, head, _ in WRENFOLD_SCHOOLS),
)
TEXTS = ("Meetings feel guarded.", "Trust has slipped", "Our vision is strong.")


@pytest.fixture
def reports(db: Database) -> dict[str, RoundReport]:
    """The current healthcheck round for the county (LA officer) and Tendring (its lead)."""
    rw = build_report_world(db)
    healthcheck_rounds(rw)
    service = ReportService(db, keys=KEYS)
    return {
        "county": service.report(rw.actor(OFFICER), "healthcheck county"),
        "tendring": service.report(rw.actor(LEAD), "healthcheck"),
    }


@pytest.fixture
def county(reports: dict[str, RoundReport]) -> RoundReport:
    return reports["county"]


@pytest.fixture
def tendring(reports: dict[str, RoundReport]) -> RoundReport:
    return reports["tendring"]


def csv_rows(report: RoundReport) -> list[dict[str, str]]:
    data = exports.to_csv(report)
    assert not data.startswith(b"\xef\xbb\xbf")  # plain UTF-8, no byte-order mark
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def pick(rows: list[dict[str, str]], group: str, question: str, point: str = "") -> dict[str, str]:
    (row,) = [
        r
        for r in rows
        if r["group"] == group and r["question_id"] == question and r["point"] == point
    ]
    return row


def test_csv_holds_the_hand_computed_numbers(county: RoundReport) -> None:
    rows = csv_rows(county)
    assert tuple(rows[0]) == exports.COLUMNS
    trust = pick(rows, TENDRING, "trust")
    assert (trust["n"], trust["mean"], trust["previous_mean"], trust["change"]) == (
        "4",
        "1.75",  # 2 1 2 2
        "2.75",  # 3 3 3 2
        "-1.00",
    )
    assert (trust["responses"], trust["invited"], trust["suppressed"]) == ("4", "4", "no")
    # Trust in Tendring: one 1 and three 2s.
    assert [pick(rows, TENDRING, "trust", p)["count"] for p in "1234"] == ["1", "3", "0", "0"]
    assert pick(rows, TENDRING, "trust", "1")["label"] == "Not yet in place"
    vision = pick(rows, "Essex", "vision")
    # Tendring 4 3 4 3, Harlow 4 4, Wrenfold 3 3 3: 31 / 9; last round 30 / 10; 4/9 up.
    assert (vision["n"], vision["mean"], vision["change"]) == ("9", "3.44", "0.44")
    assert [pick(rows, "Essex", "vision", p)["count"] for p in "1234"] == ["0", "0", "5", "4"]
    diamond = pick(rows, TENDRING, "diamond_nine", "financial_contributions")
    assert diamond["mean_tier"] == "4.75"  # 5 5 4 5
    assert pick(rows, TENDRING, "diamond_nine", "vision")["mean_tier"] == "1.50"  # 1 2 1 2


def test_csv_matches_the_report(county: RoundReport) -> None:
    rows = csv_rows(county)
    for group in (county.overall, *county.partnerships):
        for result in group.questions:
            row = pick(rows, group.name, result.question_id)
            if result.mean is not None:
                assert float(row["mean"]) == result.mean
            for count in result.counts:
                assert int(pick(rows, group.name, result.question_id, count.key)["count"]) == (
                    count.count
                )


def test_a_suppressed_group_has_no_numbers_in_the_csv(county: RoundReport) -> None:
    # Harlow (2 < k) and Wrenfold (3, suppressed so that Harlow cannot be differenced out).
    for group, why in ((HARLOW, "fewer than 3 responses"), (WRENFOLD, exports.PROTECTS)):
        hidden = [r for r in csv_rows(county) if r["group"] == group]
        assert len(hidden) == 10  # one row per question, no points
        for row in hidden:
            assert row["suppressed"] == "yes" and row["invited"] == "3"
            assert row["suppressed_reason"] == why
            assert all(row[column] == "" for column in NUMBERS), row
            assert row["point"] == "" and row["label"] == ""
    assert {r["suppressed_reason"] for r in csv_rows(county) if r["group"] == TENDRING} == {""}


def test_a_partnership_hidden_to_protect_another_exports_no_numbers(db: Database) -> None:
    # Wrenfold's own report, for its own head: hidden (it protects Harlow), so its exports say
    # so and hold no number, and there is no chart.
    rw = build_report_world(db)
    healthcheck_rounds(rw)
    report = ReportService(db, keys=KEYS).report(rw.actor(WREN_HEAD), "healthcheck")
    assert report.scope.name == WRENFOLD and report.overall.suppressed_reason == "complement"
    rows = csv_rows(report)
    assert len(rows) == 10 and {r["group"] for r in rows} == {WRENFOLD}
    for row in rows:
        assert (row["suppressed"], row["suppressed_reason"]) == ("yes", exports.PROTECTS)
        assert all(row[column] == "" for column in NUMBERS), row
    workbook = load_workbook(io.BytesIO(exports.to_xlsx(report)))
    summary = dict(workbook["Summary"].iter_rows(min_row=2, values_only=True))
    assert (summary["Invited"], summary["Responses"]) == (3, exports.PROTECTS)
    diamond = list(workbook["Diamond 9"].iter_rows(min_row=2, values_only=True))
    assert diamond == [(None, "hidden so that a smaller group's answers can't be worked out", None)]
    assert list(workbook["Needing attention"].iter_rows(min_row=2, values_only=True)) == []
    assert charts.chart_for(report) is None


@pytest.mark.parametrize("anonymous", [True, False], ids=["anonymous", "named"])
def test_two_partnerships_one_under_k_export_the_county_alone(
    db: Database, anonymous: bool
) -> None:
    """Tendring (4) and Harlow (2) alone: Tendring's numbers with the county's would give
    Harlow's away, so the CSV and XLSX hold the county's numbers and no partnership's."""
    rw = build_report_world(db)
    healthcheck_rounds(rw, anonymous=anonymous, wrenfold=False)
    county = ReportService(db, keys=KEYS).report(rw.actor(OFFICER), "healthcheck county")
    rows = csv_rows(county)
    assert {r["group"] for r in rows} == {"Essex", HARLOW, TENDRING}
    for row in rows:
        if row["group"] != "Essex":
            assert row["suppressed"] == "yes" and row["point"] == "", row
            assert all(row[column] == "" for column in NUMBERS), row
    assert len([r for r in rows if r["group"] == TENDRING]) == 10  # a row per question
    # The county is all there: trust 2 1 2 2 (Tendring) and 1 4 (Harlow), 12 / 6.
    trust = pick(rows, "Essex", "trust")
    assert (trust["responses"], trust["n"], trust["mean"]) == ("6", "6", "2.00")
    assert [pick(rows, "Essex", "trust", p)["count"] for p in "1234"] == ["2", "3", "0", "1"]

    workbook = load_workbook(io.BytesIO(exports.to_xlsx(county)))
    results = workbook["Results"]
    header = [c.value for c in results[1]]
    body = [dict(zip(header, row, strict=True)) for row in results.iter_rows(2, values_only=True)]
    assert len(body) == len(rows)
    for line in body:
        if line["group"] != "Essex":
            assert all(line[column] is None for column in NUMBERS), line
    heat = [list(row) for row in workbook["Heat map"].iter_rows(min_row=2, values_only=True)]
    assert [line[:2] for line in heat] == [[HARLOW, 3], [TENDRING, 4]]  # invited: 3 and 4
    assert all(isinstance(cell, str) for line in heat for cell in line[2:]), heat
    # Tendring's fall in trust (2.75 to 1.75) is not flagged: the flag would say its means.
    assert list(workbook["Needing attention"].iter_rows(min_row=2, values_only=True)) == []


def test_exports_hold_no_names_and_no_free_text(county: RoundReport) -> None:
    text = exports.to_csv(county).decode()
    workbook = load_workbook(io.BytesIO(exports.to_xlsx(county)))
    cells = " ".join(
        str(v) for ws in workbook.worksheets for row in ws.iter_rows(values_only=True) for v in row
    )
    for name in NAMES:
        assert name not in text and name not in cells
    for said in TEXTS:
        assert said not in text and said not in cells


def test_xlsx_matches_the_report(county: RoundReport) -> None:
    workbook = load_workbook(io.BytesIO(exports.to_xlsx(county)))
    assert workbook.sheetnames == [
        "Summary",
        "Results",
        "Heat map",
        "Diamond 9",
        "Needing attention",
    ]
    for sheet in workbook.worksheets:
        assert sheet.freeze_panes == "A2"
        assert all(cell.font.bold for cell in sheet[1])
    results = workbook["Results"]
    header = [c.value for c in results[1]]
    assert tuple(header) == exports.COLUMNS
    body = [dict(zip(header, row, strict=True)) for row in results.iter_rows(2, values_only=True)]
    assert len(body) == len(csv_rows(county))
    (trust,) = [
        r for r in body if r["group"] == TENDRING and r["question_id"] == "trust" and not r["point"]
    ]
    assert (trust["n"], trust["mean"], trust["change"], trust["suppressed"]) == (4, 1.75, -1, "no")
    heat = [list(row) for row in workbook["Heat map"].iter_rows(values_only=True)]
    assert heat[0][:3] == ["Partnership", "Invited", "Responses"]
    assert len(heat) == 4
    assert heat[1] == [HARLOW, 3, "fewer than 3", *["fewer than 3"] * 9]
    # Tendring's nine means, hand-computed from A_NOW.
    assert heat[2] == [TENDRING, 4, 4, 3.5, 1.75, 3, 3, 2, 2.25, 1.5, 1.25, 3]
    # Wrenfold: its invitations only; no count of responses, no mean, and why.
    assert heat[3] == [WRENFOLD, 3, *[exports.PROTECTS] * 10]
    flags = list(workbook["Needing attention"].iter_rows(min_row=2, values_only=True))
    assert [(f[0], f[1]) for f in flags] == [(TENDRING, "trust")]
    summary = dict(workbook["Summary"].iter_rows(min_row=2, values_only=True))
    assert (summary["Invited"], summary["Responses"], summary["Status"]) == (10, 9, "closed")
    assert workbook.properties.created == datetime(2026, 11, 16, 8, 0)  # the round's close
    assert workbook.properties.modified == datetime(2026, 11, 16, 8, 0)


def test_the_diamond_sheet_places_items_in_the_shape(tendring: RoundReport) -> None:
    workbook = load_workbook(io.BytesIO(exports.to_xlsx(tendring)))
    assert "Heat map" not in workbook.sheetnames  # a partnership report has no rows
    rows = list(workbook["Diamond 9"].iter_rows(min_row=2, values_only=True))
    assert [(tier, mean) for tier, _, mean in rows] == [
        (1, 1.5),
        (2, 2),
        (2, 2),
        (3, 2.5),
        (3, 3.25),
        (3, 3.25),
        (4, 3.5),
        (4, 4.25),
        (5, 4.75),
    ]
    assert rows[0][1].startswith("A clear and compelling vision")


def test_exports_and_charts_are_deterministic(county: RoundReport, tendring: RoundReport) -> None:
    assert exports.to_csv(county) == exports.to_csv(county)
    xlsx = exports.to_xlsx(county)
    assert xlsx == exports.to_xlsx(county)
    for entry in zipfile.ZipFile(io.BytesIO(xlsx)).infolist():
        assert entry.date_time == (2026, 11, 16, 8, 0, 0)
    assert charts.heat_map_png(county) == charts.heat_map_png(county)
    assert charts.comparison_png(tendring) == charts.comparison_png(tendring)


def test_charts_are_pngs_of_sensible_size(county: RoundReport, tendring: RoundReport) -> None:
    for report, name in ((county, "heat-map"), (tendring, "ratings")):
        chart = charts.chart_for(report)
        assert chart is not None and chart.name == name
        assert chart.png.startswith(PNG)
        assert b"Software" not in chart.png and b"matplotlib" not in chart.png
        image = matplotlib.image.imread(io.BytesIO(chart.png), format="png")
        height, width = image.shape[:2]
        assert 600 <= width <= 2000 and 300 <= height <= 1500, (name, width, height)


def test_no_chart_when_everything_is_suppressed(db: Database) -> None:
    rw = build_report_world(db)
    healthcheck_rounds(rw)
    report = ReportService(db, min_group=7).report(rw.actor(LEAD), "healthcheck")
    assert report.overall.suppressed
    assert charts.chart_for(report) is None
    rows = csv_rows(report)
    assert rows and all(r["suppressed"] == "yes" for r in rows)


def test_checkin_exports_count_rag_answers(db: Database) -> None:
    rw = build_report_world(db)
    checkin_round(rw, anonymous=True)  # 115141 filed under Harlow: Harlow 3, shown
    report = ReportService(db).report(rw.actor(OFFICER), "check-in")
    rows = csv_rows(report)
    # The six heads who answered: red (115141, 115142), amber (115300), green (115200, 990101,
    # 990102).
    counts = {p: pick(rows, "Essex", "current_position", p)["count"] for p in RAG}
    assert counts == {"red": "2", "amber": "1", "green": "3"}
    assert pick(rows, "Essex", "position_notes")["n"] == "2"
    assert all(r["suppressed"] == "yes" for r in rows if r["group"] in (TENDRING, WRENFOLD))
    assert pick(rows, HARLOW, "current_position", "red")["count"] == "1"  # 115141
    workbook = load_workbook(io.BytesIO(exports.to_xlsx(report)))
    assert "Diamond 9" not in workbook.sheetnames
    summary = dict(workbook["Summary"].iter_rows(min_row=2, values_only=True))
    assert summary["Status"] == "still open"
    assert "Counting" not in summary  # anonymous: each response filed under one partnership


def test_named_checkin_exports_say_where_a_shared_school_counts(db: Database) -> None:
    rw = build_report_world(db)
    checkin_round(rw, anonymous=False)
    report = ReportService(db).report(rw.actor(OFFICER), "check-in")
    rows = csv_rows(report)
    # 115141 counts in Tendring only: Tendring, Harlow and Wrenfold have 2 answers each.
    for group in (HARLOW, TENDRING, WRENFOLD):
        assert {r["suppressed_reason"] for r in rows if r["group"] == group} == {
            "fewer than 3 responses"
        }
    workbook = load_workbook(io.BytesIO(exports.to_xlsx(report)))
    summary = dict(workbook["Summary"].iter_rows(min_row=2, values_only=True))
    assert (
        f"All Saints Primary School, Great Oakley counts in {TENDRING} (not {HARLOW})"
        in summary["Counting"]
    )
