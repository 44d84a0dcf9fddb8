"""The meeting calendar port over Microsoft Graph: one app registration, used for the local
authorities it is configured for (GRAPH_LA_CODES; all when empty).

Booked meetings go into the chair's Outlook calendar (with a Teams meeting when online); the
publication sweep calls this and falls back to the bot's own invitations when Graph fails for
good. Errors become `CalendarUnavailable` with the reason only: never a token or a body.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from bot.config import GraphCredentials
from bot.ports import CalendarEntry, CalendarUnavailable, CreatedEntry
from handlers.graph.calendar import GraphCalendar, GraphEvent, GraphUnavailable


class GraphCalendars:
    """`bot.ports.MeetingCalendar` through Microsoft Graph."""

    def __init__(
        self,
        creds: GraphCredentials,
        la_code_of: Callable[[int], int | None],
        *,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._la_codes = creds.la_codes
        self._la_code_of = la_code_of
        self._known: dict[int, bool] = {}
        self._graph = GraphCalendar(
            tenant_id=creds.tenant_id,
            client_id=creds.client_id,
            client_secret=creds.client_secret,
            api_url=creds.api_url,
            authority_url=creds.authority_url,
            http=http,
        )

    def configured(self, tenant_id: int) -> bool:
        """Whether this local authority's meetings go into Outlook calendars."""
        if self._la_codes is None:
            return True
        if tenant_id not in self._known:
            # A tenant's LA code never changes, so one look per process is enough.
            self._known[tenant_id] = self._la_code_of(tenant_id) in self._la_codes
        return self._known[tenant_id]

    async def create(
        self, tenant_id: int, organiser_email: str, entry: CalendarEntry
    ) -> CreatedEntry:
        try:
            created = await self._graph.create(organiser_email, _event(entry))
        except GraphUnavailable as exc:
            raise _unavailable(exc) from None
        return CreatedEntry(event_id=created.event_id, join_url=created.join_url)

    async def update(
        self, tenant_id: int, organiser_email: str, event_id: str, entry: CalendarEntry
    ) -> None:
        try:
            await self._graph.update(organiser_email, event_id, _event(entry))
        except GraphUnavailable as exc:
            raise _unavailable(exc) from None

    async def cancel(
        self, tenant_id: int, organiser_email: str, event_id: str, comment: str
    ) -> None:
        try:
            await self._graph.cancel(organiser_email, event_id, comment)
        except GraphUnavailable as exc:
            raise _unavailable(exc) from None

    async def close(self) -> None:
        await self._graph.close()


def _event(entry: CalendarEntry) -> GraphEvent:
    return GraphEvent(
        subject=entry.subject,
        body_html=entry.body_html,
        starts=entry.starts,
        ends=entry.ends,
        zone=entry.zone,
        location=entry.location,
        attendees=entry.attendees,
        online=entry.online,
        transaction_id=entry.transaction_id,
    )


def _unavailable(exc: GraphUnavailable) -> CalendarUnavailable:
    return CalendarUnavailable(str(exc), permanent=exc.permanent, retry_after=exc.retry_after)
