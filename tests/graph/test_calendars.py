"""The meeting calendar port over Graph: which local authorities use it, and what a failure
becomes (a reason without secrets, permanent or not)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.config import GraphCredentials
from bot.ports import CalendarEntry, CalendarUnavailable
from handlers.graph.calendars import GraphCalendars
from tests.fakes.graph_api import JOIN_URL, TENANT, FakeGraphApi, fake_graph  # noqa: F401

SECRET = "client-secret-value"
ENTRY = CalendarEntry(
    subject="West quadrant meeting",
    body_html="<p>Agenda to follow.</p>",
    starts=datetime(2027, 4, 21, 15, 0, tzinfo=UTC),
    ends=datetime(2027, 4, 21, 16, 0, tzinfo=UTC),
    zone="Europe/London",
    location=None,
    attendees=(("Wren Halloway", "wren.halloway@schools.example.org"),),
    online=True,
    transaction_id="slis-1-1",
)


def calendars(fake: FakeGraphApi, la_codes: frozenset[int] | None) -> GraphCalendars:
    creds = GraphCredentials(
        TENANT, "client-id", SECRET, fake.api_url, fake.authority_url, la_codes
    )
    return GraphCalendars(creds, {1: 881, 2: 935}.get)


async def test_only_the_configured_local_authorities_use_graph(
    fake_graph: FakeGraphApi,  # noqa: F811
) -> None:
    every = calendars(fake_graph, None)
    essex_only = calendars(fake_graph, frozenset({881}))
    try:
        assert every.configured(1) and every.configured(2)
        assert essex_only.configured(1) and not essex_only.configured(2)
        assert not essex_only.configured(3)  # no such tenant
    finally:
        await every.close()
        await essex_only.close()


async def test_create_returns_the_join_link_and_failures_say_whether_to_retry(
    fake_graph: FakeGraphApi,  # noqa: F811
) -> None:
    port = calendars(fake_graph, None)
    try:
        created = await port.create(1, "juno.chairwell@schools.example.org", ENTRY)
        assert created.join_url == JOIN_URL and created.event_id
        fake_graph.fail(403)
        with pytest.raises(CalendarUnavailable) as refused:
            await port.update(1, "juno.chairwell@schools.example.org", created.event_id, ENTRY)
        assert refused.value.permanent and "403" in str(refused.value)
        fake_graph.fail(500)  # not one msgraph-core retries itself: the sweep tries later
        with pytest.raises(CalendarUnavailable) as busy:
            await port.cancel(1, "juno.chairwell@schools.example.org", created.event_id, "Sorry")
        assert not busy.value.permanent
        for failure in (refused.value, busy.value):
            assert SECRET not in str(failure) and (fake_graph.token or "") not in str(failure)
    finally:
        await port.close()
