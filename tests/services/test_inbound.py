"""The inbound ledger: a key takes effect once, across threads and replicas (the retention
purge forgets keys: tests/services/test_retention.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from bot.services.inbound import InboundLedger
from storage.engine import Database
from tests.fakes.clock import FakeClock


def test_first_delivery_once_then_repeats_refused(db: Database) -> None:
    ledger = InboundLedger(db, FakeClock())
    assert ledger.first_delivery("slack:event:Ev1")
    assert not ledger.first_delivery("slack:event:Ev1")
    assert ledger.first_delivery("slack:event:Ev2")


def test_concurrent_deliveries_of_one_key_have_one_winner(db: Database) -> None:
    ledgers = [InboundLedger(db, FakeClock()) for _ in range(8)]  # as if eight replicas
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda ledger: ledger.first_delivery("slack:trigger:9"), ledgers))
    assert results.count(True) == 1
