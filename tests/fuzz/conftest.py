"""The fuzzers' fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fuzz.world import WriteLog


@pytest.fixture
def writes() -> Iterator[WriteLog]:
    """What committed transactions write while the test runs."""
    with WriteLog().watching() as log:
        yield log
