"""Healthcheck report exports: the aggregates of a `RoundReport` as CSV and as an XLSX workbook.

One row per (group, question[, point]): the scope as a whole first, then each partnership row
of a county or quadrant report. A suppressed group or question has a row with `suppressed` set,
`suppressed_reason` saying why (fewer than k responses; hidden to protect a smaller group; fewer
than k answers to the question) and no numbers. Exports hold aggregates only: never a person's
name, a raw response, free text or the asker's own answers. The same report gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from bot.services.healthcheck.report import GroupResult, QuestionResult, RoundReport, hidden_because

Cell = str | int | float | None

COLUMNS = (
    "round_id",
    "scope",
    "group_kind",
    "group",
    "invited",
    "responses",
    "question_id",
    "question",
    "question_type",
    "point",
    "label",
    "n",
    "mean",
    "count",
    "mean_tier",
    "previous_round_id",
    "previous_mean",
    "change",
    "previous_suppressed",
    "suppressed",
    "suppressed_reason",
)
PROTECTS = "protects a smaller group"  # a group hidden so that another's can't be worked out
ZIP_EPOCH = datetime(1980, 1, 1, tzinfo=UTC)  # the earliest time a ZIP entry can carry


def rows(report: RoundReport) -> list[dict[str, Cell]]:
    """The aggregate rows, as the CSV and the workbook's Results sheet hold them."""
    out: list[dict[str, Cell]] = []
    for group in (report.overall, *report.partnerships):
        out.extend(_group_rows(report, group))
    return out


def to_csv(report: RoundReport) -> bytes:
    """The aggregate rows as CSV: UTF-8, a header row, numbers to 2 dp, suppressed = yes/no."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows(report):
        writer.writerow({key: _csv_cell(key, value) for key, value in row.items()})
    return buffer.getvalue().encode("utf-8")


def to_xlsx(report: RoundReport) -> bytes:
    """The report as a workbook: Summary, Results, Heat map (county and quadrant), Diamond 9
    (when the template ranks), Needing attention; bold, frozen header rows."""
    workbook = Workbook()
    summary = workbook.active
    assert isinstance(summary, Worksheet)
    summary.title = "Summary"
    _fill(summary, ("Field", "Value"), _summary(report))
    _fill(
        workbook.create_sheet("Results"),
        COLUMNS,
        ([row[c] for c in COLUMNS] for row in rows(report)),
    )
    if report.partnerships:
        header, body = _heat_map(report)
        _fill(workbook.create_sheet("Heat map"), header, body)
    ranking = next((q for q in report.overall.questions if q.kind == "ranking"), None)
    if ranking is not None:
        _fill(
            workbook.create_sheet("Diamond 9"),
            ("Tier", "Item", "Mean tier"),
            _diamond(report, ranking),
        )
    _fill(
        workbook.create_sheet("Needing attention"),
        ("Partnership", "Question", "Reason"),
        ([f.partnership, f.question_id or "", f.reason] for f in report.flags),
    )
    stamp = _naive_utc(max(report.round.closes_at, ZIP_EPOCH))
    workbook.properties.creator = "SLIS Bot"
    workbook.properties.title = f"{report.round.title}: {report.scope.label}"
    workbook.properties.created = stamp
    workbook.properties.modified = stamp
    workbook.properties.lastModifiedBy = None
    buffer = io.BytesIO()
    # ExcelWriter rather than Workbook.save, which stamps `modified` with the time now.
    ExcelWriter(workbook, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED)).save()
    return _restamped(buffer.getvalue(), stamp)


# --- rows ------------------------------------------------------------------------------------


def _group_rows(report: RoundReport, group: GroupResult) -> Iterator[dict[str, Cell]]:
    base: dict[str, Cell] = {
        "round_id": report.round.id,
        "scope": report.scope.label,
        "group_kind": group.kind,
        "group": group.name,
        "invited": group.invited,
        "responses": group.responses,
    }
    for q in group.questions:
        row: dict[str, Cell] = dict.fromkeys(COLUMNS)
        row |= base
        row |= {
            "question_id": q.question_id,
            "question": q.text,
            "question_type": q.kind,
            "suppressed": group.suppressed or q.suppressed,
        }
        if group.suppressed or q.suppressed:
            row["suppressed_reason"] = _why(report, group, q)
            yield row
            continue
        row["n"] = q.n
        row["mean"] = q.mean
        if q.previous is not None:
            row["previous_round_id"] = q.previous.round_id
            row["previous_mean"] = q.previous.previous_mean
            row["change"] = q.previous.change
            row["previous_suppressed"] = q.previous.suppressed
        yield row
        point_row = {**row, "n": None, "mean": None, "previous_round_id": None}
        point_row |= {"previous_mean": None, "change": None, "previous_suppressed": None}
        for count in q.counts:
            yield {**point_row, "point": count.key, "label": count.label, "count": count.count}
        for item in q.ranking:
            yield {
                **point_row,
                "point": item.item_id,
                "label": item.label,
                "mean_tier": item.mean_tier,
            }


def _summary(report: RoundReport) -> list[list[Cell]]:
    overall = report.overall
    previous = report.previous_round
    counting: list[list[Cell]] = (
        [["Counting", report.counting_note]] if report.counting_note else []
    )
    return [
        ["Round", f"#{report.round.id} {report.round.title}"],
        ["Template", report.round.template_title],
        ["Dates", report.round.dates],
        ["Status", "still open" if report.round.still_open else "closed"],
        ["Anonymous", "yes" if report.round.anonymous else "no"],
        ["Scope", report.scope.label],
        ["Invited", overall.invited],
        [
            "Responses",
            overall.responses
            if overall.responses is not None
            else _hidden_cell(report, group=overall),
        ],
        ["Smallest group shown", report.min_group],
        ["Previous round", previous.ref if previous is not None else "none"],
        *counting,
    ]


def _heat_map(report: RoundReport) -> tuple[list[str], list[list[Cell]]]:
    questions = report.scale_questions()
    header = ["Partnership", "Invited", "Responses", *(q.label for q in questions)]
    body: list[list[Cell]] = []
    for group in report.partnerships:
        hidden = _hidden_cell(report, group=group)
        line: list[Cell] = [
            group.name,
            group.invited,
            group.responses if group.responses is not None else hidden,
        ]
        for q in questions:
            result = group.question(q.question_id)
            line.append(hidden if group.suppressed or result.suppressed else result.mean)
        body.append(line)
    return header, body


def _diamond(report: RoundReport, ranking: QuestionResult) -> list[list[Cell]]:
    if report.overall.suppressed_reason is not None:
        return [["", hidden_because(report.overall.suppressed_reason, report.min_group), None]]
    if ranking.suppressed:
        return [["", f"fewer than {report.min_group} answers", None]]
    return [
        [tier, item.label, item.mean_tier]
        for tier, items in enumerate(ranking.diamond, start=1)
        for item in items
    ]


def _why(report: RoundReport, group: GroupResult, q: QuestionResult) -> str:
    """Why a row of the Results has no numbers."""
    if group.suppressed_reason == "complement":
        return PROTECTS
    if group.suppressed:
        return f"fewer than {report.min_group} responses"
    return f"fewer than {report.min_group} answers"


def _hidden_cell(report: RoundReport, *, group: GroupResult) -> str:
    """What a hidden cell of the Summary or the Heat map says: "fewer than 3", or that the
    group protects a smaller one."""
    if group.suppressed_reason == "complement":
        return PROTECTS
    return f"fewer than {report.min_group}"


# --- writing ---------------------------------------------------------------------------------


def _csv_cell(key: str, value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _fill(
    sheet: Worksheet, header: Sequence[str], body: Iterator[Sequence[Cell]] | list[list[Cell]]
) -> None:
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for line in body:
        sheet.append([_xlsx_cell(v) for v in line])
    sheet.freeze_panes = "A2"
    for index, name in enumerate(header, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = min(
            max(len(str(name)) + 2, 10), 48
        )


def _xlsx_cell(value: Cell | bool) -> Cell:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def _restamped(data: bytes, stamp: datetime) -> bytes:
    """The same ZIP with every entry dated `stamp` (zipfile dates entries with the time now)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    when = stamp.timetuple()[:6]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=when)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = entry.external_attr
            target.writestr(fixed, source.read(entry))
    return out.getvalue()
