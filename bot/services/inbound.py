"""Inbound idempotency: the first delivery of a request takes effect, repeats are ignored."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from bot.ports import Clock
from storage.engine import Database
from storage.inbound_tables import SeenRequest

# Slack retries an event three times within about an hour and a half: a key must guard at
# least this long. Keys are kept longer, for the seen-request retention period, and forgotten
# by the retention purge (bot/services/retention.py).
SEEN_FOR = timedelta(hours=6)


class InboundLedger:
    """Remembers which requests were handled, in the database so every replica agrees."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def first_delivery(self, key: str) -> bool:
        """True the first time `key` is offered (and records it); False for a repeat."""
        try:
            with self._db.session() as session:
                session.add(SeenRequest(key=key, expires_at=self._clock.now() + SEEN_FOR))
        except IntegrityError:
            return False
        return True
