"""The direct messages a round sends: the prompt at its open time, and the nudges after."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.types import Actions, Button, Context, Paragraph, Reply

START_ACTION = "slis.healthcheck.start"


def when_text(at: datetime, zone: ZoneInfo) -> str:
    """A time as people read it, e.g. "Fri 12 Dec 17:00"."""
    local = at.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def privacy_text(anonymous: bool, min_group: int) -> str:
    if anonymous:
        return (
            "This round is anonymous: your answers are not stored with your name, and reports"
            f" only show groups of {min_group} or more answers."
        )
    return (
        "This is a named round: your name is kept with your answers, and the Project Board,"
        " LA officers and your quadrant chair can see them."
    )


def prompt(
    *,
    invitation_id: int,
    title: str,
    subject: str,
    closes_at: datetime,
    zone: ZoneInfo,
    anonymous: bool,
    min_group: int,
    minutes: int,
    nudge: int = 0,
) -> Reply:
    """The message that asks a person to answer (nudge 0) or reminds them (nudge 1, 2, ...)."""
    closes = when_text(closes_at, zone)
    if nudge == 0:
        lead = f"*{title}* for *{subject}* is open until {closes}."
        ask = f"It takes about {minutes} minutes. Press Start to answer."
    else:
        lead = f"A reminder: *{title}* for *{subject}* closes {closes}."
        ask = "You haven't sent your answers yet; it takes a few minutes. Press Start to answer."
    return Reply(
        f"{title} for {subject}: please answer by {closes}",
        (
            Paragraph(lead),
            Paragraph(ask),
            Actions((Button("Start", START_ACTION, str(invitation_id), style="primary"),)),
            Context(privacy_text(anonymous, min_group)),
        ),
        private=False,
    )


def minutes_for(question_count: int) -> int:
    """A fair estimate of the time a form takes: about twenty seconds a question."""
    return max(2, round(question_count / 3))
