"""Healthcheck report charts as PNG images, drawn from a `RoundReport` (already suppressed).

Drawn with matplotlib's Agg canvas on a `Figure` of its own: no pyplot, so no global figure
registry, no display and no backend chosen from the environment, and charts can be drawn from
several threads at once. The same report gives the same bytes (no timestamp in the PNG).

- A county or quadrant report of a template with scale questions: a partnership × question
  heat map of mean ratings; suppressed cells are grey, hatched and labelled (a hidden row says
  why: fewer than k responses, or hidden so that a smaller group's answers can't be worked out).
- A partnership report (or a scope without partnership rows): this round's mean ratings beside
  the previous round's, as grouped bars.
- A template without scale questions but with a RAG question (the school check-in): RAG counts
  per partnership (or for the scope, when no partnership row is shown) as stacked bars.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from bot.services.healthcheck.report import (
    GroupResult,
    QuestionResult,
    RoundReport,
    SuppressedReason,
    hidden_because,
)
from bot.services.healthcheck.templates import ScaleQuestion

DPI = 100
SUPPRESSED_GREY = "#d9d9d9"
HATCH_GREY = "#8c8c8c"
RAG_COLOURS = {"red": "#d73027", "amber": "#fdae61", "green": "#1a9850"}
THIS_ROUND = "#2c7fb8"
PREVIOUS_ROUND = "#a6bddb"
LABEL_CHARS = 32
COLUMN_CHARS = 16  # a column label's line, wrapped; at most COLUMN_LINES of them
COLUMN_LINES = 3
MAX_HEIGHT_IN = 40.0
# Past this many partnerships the heat map is colour only: every number drawn costs time, and
# the numbers are in the spreadsheet.
MAX_LABELLED_ROWS = 80


@dataclass(frozen=True)
class Chart:
    """A chart of a report: a short name for its file, a title and the PNG bytes."""

    name: str
    title: str
    png: bytes


@dataclass(frozen=True)
class HeatMapData:
    """The heat map's numbers: a row per partnership, a column per scale question.

    A value is None where the partnership, or its answers to the question, are suppressed;
    `hidden` says, per row, why the whole partnership is (None when it is shown).
    """

    rows: tuple[str, ...]
    question_ids: tuple[str, ...]
    columns: tuple[str, ...]
    values: tuple[tuple[float | None, ...], ...]
    low: int
    high: int
    hidden: tuple[SuppressedReason | None, ...] = ()


def chart_for(report: RoundReport) -> Chart | None:
    """The chart that suits the report, or None when there is nothing shown to draw."""
    has_scale = bool(report.scale_questions())
    if has_scale and report.partnerships:
        return Chart("heat-map", "Mean ratings by partnership", heat_map_png(report))
    if has_scale and not report.overall.suppressed:
        return Chart("ratings", "Mean ratings, this round and the last", comparison_png(report))
    rag = _first(report.overall.questions, "rag")
    if rag is not None and any(not g.suppressed for g in _rag_groups(report)):
        return Chart("rag", "Red, amber and green answers", rag_png(report))
    return None


def _rag_groups(report: RoundReport) -> Sequence[GroupResult]:
    """The partnership rows when any is shown, else the scope as a whole."""
    if any(not g.suppressed for g in report.partnerships):
        return report.partnerships
    return (report.overall,)


def heat_map_data(report: RoundReport) -> HeatMapData:
    """The partnership × scale question table of means the heat map draws."""
    questions = report.scale_questions()
    low, high = _scale_range(report)
    values = tuple(
        tuple(_mean_of(group, q.question_id) for q in questions) for group in report.partnerships
    )
    return HeatMapData(
        rows=tuple(g.name for g in report.partnerships),
        question_ids=tuple(q.question_id for q in questions),
        columns=tuple(q.label for q in questions),
        values=values,
        low=low,
        high=high,
        hidden=tuple(g.suppressed_reason for g in report.partnerships),
    )


def heat_map_png(report: RoundReport) -> bytes:
    """Partnership × question heat map of mean ratings; suppressed cells hatched grey."""
    data = heat_map_data(report)
    rows, cols = len(data.rows), len(data.columns)
    # Fixed margins in inches (names on the left, title and wrapped question labels on top,
    # the colour bar on the right): no layout engine, so one draw and no layout passes.
    left, right, top, bottom = 2.3, 1.15, 1.15, 0.4
    body = min(max(0.32 * rows, 1.6), MAX_HEIGHT_IN - top - bottom)
    row_height = body / max(rows, 1)
    width = left + 0.95 * max(cols, 1) + right
    height = top + body + bottom
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    ax = figure.add_axes(
        (left / width, bottom / height, 1 - (left + right) / width, 1 - (top + bottom) / height)
    )
    bar = figure.add_axes(
        ((width - right + 0.15) / width, bottom / height, 0.18 / width, 1 - (top + bottom) / height)
    )
    grid = np.ma.masked_invalid(
        np.array(
            [[np.nan if v is None else v for v in row] for row in data.values] or [[np.nan] * cols],
            dtype=float,
        )
    )
    # Suppressed cells are transparent in the image and show one hatched grey patch beneath.
    cmap = colormaps["RdYlGn"].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))
    ax.add_patch(
        Rectangle(
            (-0.5, -0.5),
            cols,
            max(rows, 1),
            facecolor=SUPPRESSED_GREY,
            hatch="///",
            edgecolor=HATCH_GREY,
            linewidth=0.0,
            zorder=0.5,
        )
    )
    image = ax.imshow(grid, cmap=cmap, vmin=data.low, vmax=data.high, aspect="auto", zorder=1)
    small = 8 if row_height >= 0.3 else 7 if row_height >= 0.2 else 6
    span = max(data.high - data.low, 1)
    labelled = rows <= MAX_LABELLED_ROWS
    for r, (row, reason) in enumerate(zip(data.values, data.hidden, strict=True)):
        if not labelled:
            break
        if cols and (reason is not None or all(value is None for value in row)):
            ax.text(
                (cols - 1) / 2,
                r,
                hidden_because(reason, report.min_group)
                if reason is not None
                else f"fewer than {report.min_group} answers",
                ha="center",
                va="center",
                fontsize=small,
                in_layout=False,
                zorder=2,
            )
            continue
        for c, value in enumerate(row):
            if value is None:
                text, colour = f"<{report.min_group}", "black"
            else:
                # White on the darkest reds and greens, black elsewhere.
                extreme = abs((value - data.low) / span - 0.5) > 0.38
                text, colour = f"{value:.2f}", "white" if extreme else "black"
            # Inside the axes: nothing for the layout to make room for.
            ax.text(
                c,
                r,
                text,
                ha="center",
                va="center",
                fontsize=small,
                color=colour,
                in_layout=False,
                zorder=2,
            )
    ax.set_xticks(range(cols), labels=[_wrapped(c) for c in data.columns], fontsize=7)
    ax.xaxis.tick_top()
    ax.set_yticks(range(rows), labels=[_short(r) for r in data.rows], fontsize=small)
    ax.set_title(_title(report), fontsize=10, pad=42)
    protecting = "complement" in data.hidden
    ax.set_xlabel(
        f"Grey, hatched: not shown, fewer than {report.min_group} responses (or answers)"
        + (
            "; or hidden so that a smaller group's answers can't be worked out."
            if protecting
            else "."
        )
        + ("" if labelled else " The numbers are in the spreadsheet."),
        fontsize=7,
        color="#555555",
    )
    figure.colorbar(image, cax=bar, label="Mean rating")
    return _png(figure)


def comparison_png(report: RoundReport) -> bytes:
    """This round's mean per scale question beside the previous round's (same scope)."""
    questions = report.scale_questions()
    low, high = _scale_range(report)
    figure = Figure(figsize=(4.5 + 0.9 * len(questions), 5.0), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    width = 0.38
    xs = np.arange(len(questions), dtype=float)
    now = [q.mean for q in questions]
    then = [q.previous.previous_mean if q.previous is not None else None for q in questions]
    hidden = f"<{report.min_group}"
    _bars(ax, xs - width / 2, now, width, THIS_ROUND, f"#{report.round.id} (this round)", hidden)
    if report.previous_round is not None:
        label = f"#{report.previous_round.id} (previous round)"
        # Not comparable ("n/c") where the previous round hid the group to protect another;
        # nothing where the question is new since then.
        why = [
            "" if q.previous is None else "n/c" if q.previous.reason == "complement" else hidden
            for q in questions
        ]
        _bars(ax, xs + width / 2, then, width, PREVIOUS_ROUND, label, why)
        if "n/c" in why:
            ax.set_xlabel(
                "n/c: not comparable, last round's group was suppressed "
                "(hidden so that a smaller group's answers can't be worked out).",
                fontsize=7,
                color="#555555",
            )
    ax.set_ylim(0, high + 0.4)
    ax.axhline(low, color="#cccccc", linewidth=0.6)
    ax.set_ylabel("Mean rating")
    ax.set_xticks(xs, labels=[_wrapped(q.label) for q in questions], fontsize=7)
    ax.set_title(_title(report), fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    return _png(figure)


def rag_png(report: RoundReport) -> bytes:
    """Stacked red/amber/green counts of the first RAG question, per partnership or scope."""
    groups = _rag_groups(report)
    rag = _first(report.overall.questions, "rag")
    question_id = rag.question_id if rag is not None else ""
    height = min(2.4 + 0.32 * len(groups), MAX_HEIGHT_IN)
    figure = Figure(figsize=(8.0, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ys = np.arange(len(groups), dtype=float)
    widest = 1
    for group in groups:
        result = group.question(question_id) if question_id else None
        if result is None or result.suppressed:
            continue
        widest = max(widest, sum(c.count for c in result.counts))
    for y, group in zip(ys, groups, strict=True):
        result = group.question(question_id) if question_id else None
        if result is None or result.suppressed:
            ax.barh(y, widest, color=SUPPRESSED_GREY, hatch="///", edgecolor=HATCH_GREY, lw=0)
            ax.text(
                widest / 2,
                y,
                hidden_because(group.suppressed_reason, report.min_group)
                if group.suppressed_reason is not None
                else f"fewer than {report.min_group} answers",
                ha="center",
                va="center",
                fontsize=8,
            )
            continue
        left = 0
        for count in result.counts:
            if count.count:
                ax.barh(y, count.count, left=left, color=RAG_COLOURS.get(count.key, "#999999"))
                ax.text(left + count.count / 2, y, str(count.count), ha="center", va="center")
            left += count.count
    ax.set_yticks(ys, labels=[_short(g.name) for g in groups])
    ax.invert_yaxis()
    ax.set_xlabel("Answers")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(_title(report), fontsize=10)
    handles = [Rectangle((0, 0), 1, 1, color=RAG_COLOURS[c]) for c in RAG_COLOURS]
    labels = [c.capitalize() for c in RAG_COLOURS]
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return _png(figure)


# --- helpers ---------------------------------------------------------------------------------


def _bars(
    ax: Axes,
    xs: np.ndarray,
    values: Sequence[float | None],
    width: float,
    colour: str,
    label: str,
    hidden: str | Sequence[str],
) -> None:
    """Bars with their values above; a missing value is labelled `hidden` (per bar, if a list)."""
    heights = [0.0 if v is None else v for v in values]
    ax.bar(xs, heights, width, color=colour, label=label)
    why = [hidden] * len(values) if isinstance(hidden, str) else list(hidden)
    for x, value, missing in zip(xs, values, why, strict=True):
        text = missing if value is None else f"{value:.2f}"
        ax.text(x, (value or 0) + 0.05, text, ha="center", va="bottom", fontsize=7)


def _first(questions: Sequence[QuestionResult], kind: str) -> QuestionResult | None:
    return next((q for q in questions if q.kind == kind), None)


def _mean_of(group: GroupResult, question_id: str) -> float | None:
    result = group.question(question_id)
    return None if group.suppressed or result.suppressed else result.mean


def _scale_range(report: RoundReport) -> tuple[int, int]:
    scales = [q for q in report.template.questions if isinstance(q, ScaleQuestion)]
    if not scales:
        return 0, 1
    return min(q.min for q in scales), max(q.max for q in scales)


def _title(report: RoundReport) -> str:
    status = " (still open)" if report.round.still_open else ""
    return f"{report.round.title}, {report.round.dates}{status}\n{report.scope.label}"


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1].rstrip() + "…"


def _wrapped(text: str) -> str:
    """A column label on at most COLUMN_LINES short lines, the last cut with "…"."""
    lines = textwrap.wrap(text, COLUMN_CHARS)
    if len(lines) > COLUMN_LINES:
        last = lines[COLUMN_LINES - 1][: COLUMN_CHARS - 1].rstrip()
        lines = [*lines[: COLUMN_LINES - 1], last + "…"]
    return "\n".join(lines)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    try:
        engine = figure.get_layout_engine()
        if engine is not None:
            # Lay out once, then hold still: savefig would lay out again on each of its draws.
            engine.execute(figure)
            figure.set_layout_engine("none")
        # No "Software" (matplotlib's version) and no time: the same chart, the same bytes.
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    finally:
        figure.clear()
    return buffer.getvalue()
