"""How a healthcheck round report reads in chat, with its chart and spreadsheets attached."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from bot.services.healthcheck import charts, exports
from bot.services.healthcheck.report import (
    Flag,
    GroupResult,
    QuestionResult,
    RoundReport,
    hidden_because,
    not_compared_because,
)
from bot.types import (
    Actions,
    Attachment,
    Block,
    BulletList,
    Button,
    Context,
    Fields,
    Heading,
    Paragraph,
    Reply,
)

# Slack takes at most 3,000 characters in a text block; leave room for escaping (& → &amp;)
# and the list's title.
TEXT_BUDGET = 2700
ITEM_LIMIT = 400  # one free-text answer or comment, as listed
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def present(report: RoundReport) -> Reply:
    """The report as blocks, with the chart (when there is one), the CSV and the XLSX."""
    blocks: list[Block] = [Heading(f"{report.round.title}: {report.scope.label}"), _facts(report)]
    overall = report.overall
    if overall.suppressed_reason == "small":
        blocks.append(
            Paragraph(
                f"Fewer than {report.min_group} responses for {report.scope.label}"
                + (" so far" if report.round.still_open else "")
                + ": nothing is shown, to keep answers anonymous."
            )
        )
    elif overall.suppressed_reason == "complement":
        blocks.append(
            Paragraph(
                f"Nothing is shown for {report.scope.label}"
                + (" so far" if report.round.still_open else "")
                + ": it is hidden so that a smaller group's answers (one with fewer than "
                f"{report.min_group} responses) can't be worked out by setting this round's "
                "reports against each other."
            )
        )
    else:
        blocks += _results(report)
    if report.flags:
        blocks.append(
            _bullets(
                "Needing attention",
                (f"*{f.partnership}*: {f.reason}" for f in report.flags),
            )
        )
        offers = offer_buttons(report.flags)
        if offers:
            blocks.append(Actions(offers))
    if report.partnerships:
        blocks.append(
            _bullets(
                f"Partnerships ({len(report.partnerships)})",
                (_partnership_line(report, g) for g in report.partnerships),
                more="see the chart and the spreadsheet",
            )
        )
    blocks += _own(report)
    if report.counting_note:
        blocks.append(Context(_clip(report.counting_note, TEXT_BUDGET)))
    protecting = (
        " Some larger groups are hidden too, so that a smaller group's answers can't be worked "
        "out from the others; every report of a round hides the same groups."
        if report.any_complement()
        else ""
    )
    blocks.append(
        Context(
            _clip(
                f"Groups with fewer than {report.min_group} responses are not shown, to keep "
                f"answers anonymous.{protecting} Free text is listed without names, in "
                "alphabetical order. The attached spreadsheets hold the numbers only.",
                TEXT_BUDGET,
            )
        )
    )
    return Reply(_summary(report), tuple(blocks), private=True, files=_files(report))


def _summary(report: RoundReport) -> str:
    overall = report.overall
    answered = (
        f"{overall.responses} of {overall.invited} responded"
        if overall.responses is not None
        else hidden_because(overall.suppressed_reason or "small", report.min_group)
    )
    return f"{report.round.title}, {report.scope.label}: {answered}"


def _facts(report: RoundReport) -> Fields:
    overall = report.overall
    status = (
        f"Still open until {report.round.closes_on}: results may change"
        if report.round.still_open
        else "Closed"
    )
    if overall.suppressed_reason == "complement":
        responses = f"not shown, to protect a smaller group (of {overall.invited} invited)"
    elif overall.suppressed or overall.responses is None:
        responses = f"fewer than {report.min_group} (of {overall.invited} invited)"
    else:
        responses = f"{overall.responses} of {overall.invited} invited"
    previous = report.previous_round
    return Fields(
        (
            ("Round", f"#{report.round.id} {report.round.template_title}"),
            ("Dates", report.round.dates),
            ("Status", status),
            ("Responses", responses),
            ("Answers", "Anonymous" if report.round.anonymous else "Named"),
            ("Compared with", previous.ref if previous is not None else "no earlier round"),
        )
    )


def _results(report: RoundReport) -> list[Block]:
    blocks: list[Block] = []
    questions = report.overall.questions
    previous = report.previous_round
    scales = [q for q in questions if q.kind == "scale"]
    if scales:
        since = f", change since #{previous.id}" if previous is not None else ""
        blocks.append(
            _bullets(f"Ratings (mean, answers{since})", (_scale_line(report, q) for q in scales))
        )
    counted = [q for q in questions if q.kind in ("rag", "single", "multiple")]
    if counted:
        blocks.append(_bullets("Answers", (_count_line(report, q) for q in counted)))
    for q in questions:
        if q.kind == "ranking":
            blocks.append(_diamond(report, q))
    for q in questions:
        if q.kind == "text" and q.answers:
            blocks.append(_bullets(q.label, (f"“{_clip(a, ITEM_LIMIT)}”" for a in q.answers)))
    comments = [(q.label, c) for q in questions for c in q.comments]
    if comments:
        blocks.append(
            _bullets(
                "Comments",
                (f"*{_clip(label, 80)}*: “{_clip(c, ITEM_LIMIT)}”" for label, c in comments),
            )
        )
    return blocks


def _scale_line(report: RoundReport, q: QuestionResult) -> str:
    if q.suppressed or q.mean is None:
        return f"*{q.label}*: fewer than {report.min_group} answers"
    points = " · ".join(f"{c.key}: {c.count}" for c in q.counts)
    return f"*{q.label}*: {q.mean:.2f} (n {q.n}{_change(report, q)}) — {points}"


def _change(report: RoundReport, q: QuestionResult) -> str:
    if q.previous is None:
        return ""
    if q.previous.suppressed or q.previous.change is None:
        return f", {not_compared_because(q.previous.reason, report.min_group)}"
    change = q.previous.change
    arrow = "▲" if change > 0 else "▼" if change < 0 else "="
    return f", {arrow} {change:+.2f}"


def _count_line(report: RoundReport, q: QuestionResult) -> str:
    if q.suppressed:
        return f"*{q.label}*: fewer than {report.min_group} answers"
    counts = " · ".join(f"{c.label} {c.count}" for c in q.counts)
    return f"*{q.label}* (n {q.n}): {counts}"


def _diamond(report: RoundReport, q: QuestionResult) -> Block:
    if q.suppressed:
        return Paragraph(f"*{q.label}*: fewer than {report.min_group} answers.")
    lines = (
        f"{tier}: " + ", ".join(f"{_clip(i.label, 60)} ({i.mean_tier:.2f})" for i in items)
        for tier, items in enumerate(q.diamond, start=1)
    )
    return _bullets("Diamond 9 (mean tier; 1 = greatest strength)", lines)


def _partnership_line(report: RoundReport, group: GroupResult) -> str:
    if group.suppressed or group.responses is None:
        why = hidden_because(group.suppressed_reason or "small", report.min_group)
        return f"*{group.name}*: {why} ({group.invited} invited)"
    head = f"*{group.name}* ({group.responses} of {group.invited})"
    means = [
        (q.mean, q.label)
        for q in group.questions
        if q.kind == "scale" and not q.suppressed and q.mean is not None
    ]
    if means:
        low, high = min(means), max(means)
        return (
            f"{head}: lowest {_clip(low[1], 50)} {low[0]:.2f}, "
            f"highest {_clip(high[1], 50)} {high[0]:.2f}"
        )
    rag = next((q for q in group.questions if q.kind == "rag" and not q.suppressed), None)
    if rag is not None:
        return f"{head}: " + " · ".join(f"{c.label} {c.count}" for c in rag.counts)
    return head


def _own(report: RoundReport) -> list[Block]:
    blocks: list[Block] = []
    for response in report.own:
        lines = (
            f"*{_clip(a.question, 80)}*: {_clip(a.answer, ITEM_LIMIT)}"
            + (f" — “{_clip(a.comment, ITEM_LIMIT)}”" if a.comment else "")
            for a in response.answers
        )
        blocks.append(
            _bullets(f"Your own answers for {response.subject} (only you see these)", lines)
        )
    if report.own_note:
        blocks.append(Context(report.own_note))
    return blocks


def _files(report: RoundReport) -> tuple[Attachment, ...]:
    stem = f"healthcheck-{report.round.id}-{_slug(report.scope.name)}"
    files: list[Attachment] = []
    chart = charts.chart_for(report)
    if chart is not None:
        files.append(
            Attachment(
                f"{stem}-{chart.name}.png",
                f"{chart.title}: {report.scope.label}",
                chart.png,
                "image/png",
            )
        )
    files.append(
        Attachment(f"{stem}.csv", f"{report.round.title} (CSV)", exports.to_csv(report), "text/csv")
    )
    files.append(
        Attachment(f"{stem}.xlsx", f"{report.round.title} (Excel)", exports.to_xlsx(report), XLSX)
    )
    return tuple(files)


# --- helpers ---------------------------------------------------------------------------------


def _bullets(title: str, items: Iterable[str], *, more: str | None = None) -> BulletList:
    """A list that fits one Slack text block; what does not fit becomes "and N more"."""
    title = _clip(title, 150)
    kept: list[str] = []
    used = _slack_length(title)
    pending: Sequence[str] = list(items)
    for index, item in enumerate(pending):
        cost = _slack_length(item) + 3  # "\n• "
        left = len(pending) - index
        reserve = 60 if left > 1 else 0  # room for the "and N more" line
        if used + cost + reserve > TEXT_BUDGET:
            tail = f"and {left} more" + (f": {more}" if more else "")
            kept.append(tail)
            break
        kept.append(item)
        used += cost
    return BulletList(tuple(kept), title=title)


def _slack_length(text: str) -> int:
    """Length once Slack's three reserved characters are escaped."""
    return len(text) + 4 * text.count("&") + 3 * (text.count("<") + text.count(">"))


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "report"


OFFER_BUTTONS = 5  # partnerships with an "Offer support" button, most flagged first
SUGGEST_ACTION = "slis.support.suggest"


def offer_buttons(flags: Sequence[Flag]) -> tuple[Button, ...]:
    """ "Offer support" for each flagged partnership (reasons joined), for readers who may."""
    reasons: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    for f in flags:
        if f.can_offer_support:
            reasons.setdefault(f.partnership_id, []).append(f.reason)
            names[f.partnership_id] = f.partnership
    ranked = sorted(reasons, key=lambda p: (-len(reasons[p]), names[p]))[:OFFER_BUTTONS]
    return tuple(
        Button(
            _clip(f"Offer support: {names[p]}", 75),
            f"{SUGGEST_ACTION}:{p}",  # one action id per button in a message
            f"{p}|{'; '.join(reasons[p])}"[:1900],
        )
        for p in ranked
    )
