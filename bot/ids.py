"""Reading a row id back from what a client returned (a button's value, a form's metadata)."""

from __future__ import annotations

# The largest id every id column holds (PostgreSQL's INTEGER): a larger one is not ours.
MAX_ID = 2**31 - 1


def parse_id(text: object) -> int | None:
    """The id `text` spells in ASCII digits (surrounding spaces allowed), 1..MAX_ID; None for
    anything else, so a changed or out-of-date value is refused before it reaches the
    database."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text if 1 <= text <= MAX_ID else None
    if not isinstance(text, str):
        return None
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()) or len(digits) > len(str(MAX_ID)):
        return None
    value = int(digits)
    return value if 1 <= value <= MAX_ID else None
