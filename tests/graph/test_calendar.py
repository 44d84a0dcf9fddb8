"""GraphCalendar against the fake Graph: token caching, body shape, retries and errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from handlers.graph.calendar import GraphCalendar, GraphEvent, GraphUnavailable
from tests.conftest import FIXTURES
from tests.fakes.graph_api import JOIN_URL, TENANT, FakeGraphApi, fake_graph  # noqa: F401

ORGANISER = "chair.west@example.org"
SECRET = "client-secret-value"


def _event(**changes: Any) -> GraphEvent:
    fields: dict[str, Any] = {
        "subject": "West quadrant meeting",
        "body_html": "<p>Agenda to follow.</p>",
        # 09:00–10:30 UTC on 1 July is 10:00–11:30 in London (BST).
        "starts": datetime(2026, 7, 1, 9, 0, tzinfo=UTC),
        "ends": datetime(2026, 7, 1, 10, 30, tzinfo=UTC),
        "zone": "Europe/London",
        "location": "Writtle Primary, staff room",
        "attendees": (("Ann Head", "ann@example.org"), ("Bo Lead", "bo@example.org")),
        "online": True,
        "transaction_id": "slis-meeting-42",
    }
    fields.update(changes)
    return GraphEvent(**fields)


@pytest.fixture
async def calendar(fake_graph: FakeGraphApi) -> AsyncIterator[GraphCalendar]:  # noqa: F811
    cal = GraphCalendar(
        tenant_id=TENANT,
        client_id="11111111-2222-3333-4444-555555555555",
        client_secret=SECRET,
        api_url=fake_graph.api_url,
        authority_url=fake_graph.authority_url,
    )
    yield cal
    await cal.close()


def _shape(value: Any) -> Any:
    """The keys and value types of a JSON value, recursively (lists by their first item)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


async def test_create_posts_the_documented_shape_and_parses_the_answer(
    calendar: GraphCalendar,
    fake_graph: FakeGraphApi,  # noqa: F811
) -> None:
    created = await calendar.create(ORGANISER, _event())

    [call] = fake_graph.graph_calls()
    assert call.method == "POST"
    assert call.path == f"/v1.0/users/{ORGANISER}/events"
    assert call.headers["Authorization"] == f"Bearer {fake_graph.token}"
    example = json.loads((FIXTURES / "graph" / "createEvent.example1.request.json").read_text())
    sent = call.json
    assert {k: _shape(sent[k]) for k in example} == _shape(example)
    assert sent["start"] == {"dateTime": "2026-07-01T10:00:00", "timeZone": "GMT Standard Time"}
    assert sent["end"] == {"dateTime": "2026-07-01T11:30:00", "timeZone": "GMT Standard Time"}
    assert sent["attendees"][1] == {
        "emailAddress": {"address": "bo@example.org", "name": "Bo Lead"},
        "type": "required",
    }
    assert sent["isOnlineMeeting"] is True
    assert sent["onlineMeetingProvider"] == "teamsForBusiness"
    assert sent["allowNewTimeProposals"] is False
    assert sent["transactionId"] == "slis-meeting-42"

    response = json.loads((FIXTURES / "graph" / "createEvent.example1.response.json").read_text())
    assert created.event_id in fake_graph.events()
    assert created.join_url == JOIN_URL
    assert created.web_link == response["webLink"]


async def test_winter_times_are_sent_as_london_wall_time(
    calendar: GraphCalendar,
    fake_graph: FakeGraphApi,  # noqa: F811
) -> None:
    winter = _event(
        starts=datetime(2026, 11, 4, 16, 0, tzinfo=UTC),
        ends=datetime(2026, 11, 4, 17, 0, tzinfo=UTC),
        online=False,
        location=None,
    )
    created = await calendar.create(ORGANISER, winter)

    sent = fake_graph.graph_calls()[0].json
    assert sent["start"] == {"dateTime": "2026-11-04T16:00:00", "timeZone": "GMT Standard Time"}
    assert sent["isOnlineMeeting"] is False
    assert "onlineMeetingProvider" not in sent
    assert created.join_url is None


async def test_one_token_serves_create_update_and_cancel(
    calendar: GraphCalendar,
    fake_graph: FakeGraphApi,  # noqa: F811
) -> None:
    created = await calendar.create(ORGANISER, _event())
    await calendar.update(ORGANISER, created.event_id, _event(subject="Moved"))
    await calendar.cancel(ORGANISER, created.event_id, "Sorry, cancelled.")

    [token_call] = fake_graph.token_calls()
    assert token_call.form is not None
    assert token_call.form["grant_type"] == "client_credentials"
    assert token_call.form["scope"] == "https://graph.microsoft.com/.default"
    create, patch, cancel = fake_graph.graph_calls()
    assert {c.headers["Authorization"] for c in (create, patch, cancel)} == {
        f"Bearer {fake_graph.token}"
    }
    assert patch.method == "PATCH"
    assert patch.path.endswith(f"/events/{created.event_id}")
    assert patch.json["subject"] == "Moved"
    assert "transactionId" not in patch.json
    assert cancel.method == "POST"
    assert cancel.path.endswith(f"/events/{created.event_id}/cancel")
    assert cancel.json == {"comment": "Sorry, cancelled."}
    event = fake_graph.events()[created.event_id]
    assert event["subject"] == "Moved"
    assert event["isCancelled"] is True
    # msal reached only the fake authority (the network guard would have failed anything else).
    assert all(c.path.startswith(("/v1.0/", f"/{TENANT}/")) for c in fake_graph.calls)


async def test_a_repeated_create_with_the_same_transaction_id_returns_the_same_event(
    calendar: GraphCalendar,
    fake_graph: FakeGraphApi,  # noqa: F811
) -> None:
    first = await calendar.create(ORGANISER, _event())
    again = await calendar.create(ORGANISER, _event())

    assert again.event_id == first.event_id
    assert len(fake_graph.events()) == 1


async def test_429_is_retried_by_the_middleware_after_retry_after(
    calendar: GraphCalendar,
    fake_graph: FakeGraphApi,  # noqa: F811
) -> None:
    fake_graph.fail(429, retry_after=1, code="ApplicationThrottled", message="Too many")

    created = await calendar.create(ORGANISER, _event())

    first, second = fake_graph.graph_calls()
    assert second.at - first.at >= 1.0
    assert second.headers.get("Retry-Attempt") == "1"
    assert second.json == first.json
    assert created.event_id in fake_graph.events()


async def test_503_until_retries_run_out_is_a_temporary_failure(
    calendar: GraphCalendar,
    fake_graph: FakeGraphApi,  # noqa: F811
) -> None:
    fake_graph.fail(503, times=10, retry_after=1, code="ServiceUnavailable", message="Busy")

    with pytest.raises(GraphUnavailable) as caught:
        await calendar.create(ORGANISER, _event())

    assert caught.value.permanent is False
    assert caught.value.retry_after == 1
    assert "ServiceUnavailable" in str(caught.value)
    assert len(fake_graph.graph_calls()) == 4  # the first attempt and three retries


async def test_403_is_permanent_with_graphs_code_and_no_token(
    calendar: GraphCalendar,
    fake_graph: FakeGraphApi,  # noqa: F811
) -> None:
    fake_graph.fail(403, code="ErrorAccessDenied", message="Access is denied.")

    with pytest.raises(GraphUnavailable) as caught:
        await calendar.create(ORGANISER, _event())

    assert caught.value.permanent is True
    assert "ErrorAccessDenied" in str(caught.value)
    assert "Access is denied." in str(caught.value)
    assert fake_graph.token is not None
    assert fake_graph.token not in str(caught.value)
    assert SECRET not in str(caught.value)
    assert len(fake_graph.graph_calls()) == 1


async def test_a_refused_client_secret_is_permanent(
    fake_graph: FakeGraphApi,  # noqa: F811
) -> None:
    cal = GraphCalendar(
        tenant_id=TENANT,
        client_id="11111111-2222-3333-4444-555555555555",
        client_secret="",
        api_url=fake_graph.api_url,
        authority_url=fake_graph.authority_url,
    )
    try:
        with pytest.raises(GraphUnavailable) as caught:
            await cal.create(ORGANISER, _event())
    finally:
        await cal.close()

    assert caught.value.permanent is True
    assert "invalid_client" in str(caught.value)
    assert fake_graph.graph_calls() == []
