"""Support requests in bulk, as the bot says them: lists, the App Home section, stats, ledger."""

from __future__ import annotations

from decimal import Decimal

from bot.replies.support import STATE_WORDS, date_text, days_text, money
from bot.services.support.facts import Facts
from bot.services.support.ledger import Duration, ImpactGroup, SupportStats
from bot.services.support.views import HomeSupport, LedgerExport, Listing
from bot.types import (
    Attachment,
    Block,
    BulletList,
    Context,
    Divider,
    Fields,
    Heading,
    Paragraph,
    Reply,
)


def line(f: Facts) -> str:
    """One request in a list: reference, what, for whom, where it stands."""
    held = f" · {f.holder}" if f.holder else ""
    asked = date_text(f.created_at.astimezone(f.zone).date())
    return (
        f"*{f.reference}* {f.category} — {f.school} · {STATE_WORDS.get(f.state, f.state.label)}"
        f"{held} · asked {asked}"
    )


def listing(found: Listing) -> Reply:
    if not found.items:
        return Reply(found.empty, (Heading(found.title), Paragraph(found.empty)))
    blocks: list[Block] = [
        Heading(found.title),
        BulletList(tuple(line(f) for f in found.items)),
    ]
    if found.total > len(found.items):
        blocks.append(Context(f"The newest {len(found.items)} of {found.total}."))
    blocks.append(Context("`/slis support show <reference>` shows one, with what you can do."))
    return Reply(f"{found.title}: {found.total}", tuple(blocks))


def home_blocks(home: HomeSupport) -> tuple[Block, ...]:
    """The support section of the App Home (nothing for people support does not concern)."""
    sections = (
        ("Your school's requests", home.asking, home.can_ask),
        ("Your alliance's queue", home.queue, bool(home.queue)),
        ("Escalated in your quadrant", home.escalated, bool(home.escalated)),
    )
    blocks: list[Block] = []
    for title, items, show in sections:
        if not show:
            continue
        blocks.append(Heading(title))
        if items:
            blocks.append(BulletList(tuple(line(f) for f in items)))
        else:
            blocks.append(Paragraph("None open."))
    if home.can_ask:
        blocks.append(Context("Need help? `/slis support` asks the alliances that serve you."))
    if blocks:
        blocks.insert(0, Divider())
    return tuple(blocks)


def _duration(d: Duration) -> str:
    if d.count == 0 or d.median is None or d.mean is None:
        return "nothing to measure yet"
    return f"median {_num(d.median)}, mean {_num(d.mean)} school days (over {d.count})"


def _num(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _impact(groups: tuple[ImpactGroup, ...]) -> tuple[str, ...]:
    return tuple(
        f"{g.label}: {_num(g.mean) if g.mean is not None else '-'} / 5 from {g.rated}"
        f" rating{'s' if g.rated != 1 else ''}"
        for g in groups
    )


def stats(found: SupportStats) -> Reply:
    counts = ", ".join(f"{STATE_WORDS_SHORT.get(s, s)} {n}" for s, n in found.by_state if n)
    blocks: list[Block] = [
        Heading(f"Support requests: {found.scope_label}"),
        Fields(
            (
                ("Requests", str(found.requests)),
                ("Waiting for a provider", str(found.unclaimed_open)),
                ("Time to claim", _duration(found.time_to_claim)),
                ("Time to close", _duration(found.time_to_close)),
            )
        ),
    ]
    if counts:
        blocks.append(Context(counts))
    if found.impact_by_category:
        blocks.append(BulletList(_impact(found.impact_by_category), title="Impact by category"))
    if found.impact_by_quadrant:
        blocks.append(BulletList(_impact(found.impact_by_quadrant), title="Impact by quadrant"))
    if not (found.impact_by_category or found.impact_by_quadrant):
        blocks.append(Paragraph("No request has been closed with an impact rating yet."))
    return Reply(f"Support stats for {found.scope_label}", tuple(blocks))


STATE_WORDS_SHORT = {
    "submitted": "submitted",
    "offered": "offered",
    "claimed": "claimed",
    "proposed": "proposed",
    "agreed": "agreed",
    "in_delivery": "in delivery",
    "delivered": "delivered",
    "closed": "closed",
    "withdrawn": "withdrawn",
    "escalated": "escalated",
}


def ledger(export: LedgerExport) -> Reply:
    """A summary of the ledger, with the CSV attached (to the asker's direct messages)."""
    rows = export.rows
    agreed = sum((r.days_agreed for r in rows), Decimal(0))
    delivered = sum((r.days_delivered for r in rows), Decimal(0))
    value = sum(r.value_agreed_pence for r in rows)
    blocks: list[Block] = [
        Heading(f"Support ledger: {export.label}"),
        Fields(
            (
                ("Days agreed", days_text(agreed)),
                ("Days delivered", days_text(delivered)),
                ("Value agreed", money(value)),
                ("Rows", str(len(rows))),
            )
        ),
        Context("Per alliance and term, in the attached CSV."),
    ]
    return Reply(
        f"Support ledger for {export.label}",
        tuple(blocks),
        files=(
            Attachment(export.filename, f"Support ledger: {export.label}", export.csv, "text/csv"),
        ),
    )
