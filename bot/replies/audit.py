"""How the audit log reads in chat: one line per entry, newest first, in local time."""

from __future__ import annotations

from bot.services.audit import AuditListing, AuditView
from bot.types import Block, BulletList, Context, Heading, Paragraph, Reply

TIME_FORMAT = "%a %d %b %Y %H:%M"


def line(entry: AuditView, listing: AuditListing) -> str:
    """One entry: when, where from, who, what (and the action's stored name), on what."""
    when = entry.at.astimezone(listing.zone).strftime(TIME_FORMAT)
    text = f"{when} · {entry.platform} · {entry.actor} {entry.meaning} ({entry.action})"
    if entry.subject:
        text += f" · {entry.subject}"
    if entry.about and entry.about != entry.actor:
        text += f" · about {entry.about}"
    return text


def listing(found: AuditListing) -> Reply:
    """`/slis audit`: the entries found, or a sentence saying there are none."""
    filters = found.query.described()
    title = "Audit log" + (f": {filters}" if filters else "")
    zone = found.zone.key
    if not found.entries:
        message = "No audit entries match" + (f" {filters}." if filters else ".")
        return Reply(message, (Heading(title), Paragraph(message)))
    blocks: list[Block] = [
        Heading(title),
        BulletList(tuple(line(e, found) for e in found.entries)),
    ]
    notes = f"Newest first; times in {zone}."
    if found.more:
        notes += (
            f" Only the newest {len(found.entries)} are shown: narrow it down (`since`, `until`,"
            " `person`, an action) or give a `limit`."
        )
    blocks.append(Context(notes))
    text = f"{title}: {len(found.entries)} entr{'y' if len(found.entries) == 1 else 'ies'}"
    return Reply(text, tuple(blocks))
