"""Support brokerage end to end in Slack: a directory of alliances, a FakeClock, the real app over
the fake Slack, and what a person sends (a slash command, a card's button, a modal's page).

As in tests.slack.healthcheck_world, the test holds the scheduler lock, so the app's own
scheduler never runs: the test says when the outbox is sent (`deliver`, one pass of the real
relay and Slack Messenger into the fake Slack) and when the support sweep runs (`sweep`).
Every click is a correctly signed `block_actions` built from the message the fake Slack holds
in that person's DM (`press`), or forged with any action and value (`click`).

Essex's North East (tests.slack.directory) with, all fictional:
- Alice Hart (HEAD), head of Great Oakley, who asks; Hana Oak, head of Oakwood (also North
  East) and Wes Harlow, head of Harlow Fields (West), who must see nothing of it;
- Chris Chalk (CHAIR), North East's chair; Nia Patel, the LA's officer for North East; Olu
  Officer, an LA officer for the whole county (told nothing: North East has its own officer);
- three alliances that can take a pupil premium review in North East, with twenty leads between
  them (LEADS), and one lead each for an alliance in West, one without the expertise (Tendring,
  from the base directory), one with no days left this term, and one led from Great Oakley.

The school calendar is the shipped 2026-27 sample: autumn half term is Mon 26 - Fri 30 Oct 2026,
and the clocks go back on Sun 25 Oct (from then on Europe/London is UTC).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from sqlmodel import Session, col, select

from bot.core import Core
from bot.replies.support import ACTION_PREFIX
from bot.services.calendar import load_sample_calendar
from bot.services.support.requests import SweepCounts
from bot.types import Role, ScopeKind
from scheduler.relay import Relay
from storage.engine import Database
from storage.models import (
    Alliance,
    AllianceExpertise,
    AllianceQuadrant,
    Quadrant,
    RoleAssignment,
    School,
)
from storage.support_tables import SupportEvent, SupportOffer, SupportRequest
from tests.fakes.clock import FakeClock
from tests.fakes.slack_api import Call, FakeSlackApi, Posted
from tests.slack.directory import (
    CHAIR,
    COLNE,
    ESSEX_TEAM,
    GREAT_OAKLEY,
    HARLOW,
    HEAD,
    OAKWOOD,
    build_directory,
)
from tests.slack.harness import (
    SlackHarness,
    serving_core,
    settle,
    slash_body,
)
from tests.slack.healthcheck_world import (
    Shown,
    buttons,
    slack_person,
    slack_would_show,
    texts,
    view_of,
    view_submission_body,
)
from tests.slack.signing import FORM, signed_headers
from tests.slack.test_forms import check_view, state_for

JSON = dict[str, Any]

# --- who is who --------------------------------------------------------------------------------

NE_OFFICER = "U0NEOFFICER"  # Nia Patel, the LA's officer for North East
COUNTY_OFFICER = "U0OFFICER"  # Olu Officer, an LA officer for the whole county
OAKWOOD_HEAD = "U0OAKHEAD"  # Hana Oak, head of Oakwood Infant School (North East)
HARLOW_HEAD = "U0HARLOWHEAD"  # Wes Harlow, head of Harlow Fields School (West)

WEST_LEAD = "U0WESTLEAD"  # Harlow Learning Alliance: serves West only
TENDRING_LEAD = "U0TENDRING"  # Tendring TSA: North East, but early reading only
BLACKWATER_LEAD = "U0BLACKWATER"  # Blackwater TSA: North East, no days left this term
OAKLEY_LEAD = "U0OAKLEYLEAD"  # Great Oakley Learning Alliance: led from the requester's school

COLNE_ESTUARY = "Colne Estuary Teaching School Alliance"
STOUR_VALLEY = "Stour Valley Teaching School Alliance"
DEDHAM_VALE = "Dedham Vale Teaching School Alliance"
ELIGIBLE = (COLNE_ESTUARY, STOUR_VALLEY, DEDHAM_VALE)
HARLOW_ALLIANCE = "Harlow Learning Alliance"
TENDRING = "Tendring Teaching School Alliance"  # from tests.slack.directory
BLACKWATER = "Blackwater Teaching School Alliance"
OAKLEY_ALLIANCE = "Great Oakley Learning Alliance"
NOT_OFFERED = {
    HARLOW_ALLIANCE: WEST_LEAD,
    TENDRING: TENDRING_LEAD,
    BLACKWATER: BLACKWATER_LEAD,
    OAKLEY_ALLIANCE: OAKLEY_LEAD,
}

# Twenty alliance leads of the eligible alliances: seven, seven and six.
LEAD_NAMES = (
    "Ada Brook", "Ben Carver", "Cleo Dunn", "Dev Ellis", "Eve Frost", "Finn Gale", "Gina Holt",
    "Hugo Ives", "Iris Jay", "Jon Kemp", "Kit Lowe", "Lia Moss", "Max Nash", "Nora Oakes",
    "Otto Pryce", "Pia Quill", "Rex Rowe", "Sia Stone", "Tom Tate", "Uma Vale",
)  # fmt: skip
LEADS = tuple(f"U0LEAD{i:02d}" for i in range(1, len(LEAD_NAMES) + 1))
LEADS_OF = {
    COLNE_ESTUARY: LEADS[:7],
    STOUR_VALLEY: LEADS[7:14],
    DEDHAM_VALE: LEADS[14:],
}

CATEGORY = "pupil_premium_review"
CATEGORY_LABEL = "Pupil premium review"
SCHOOL_NAME = "Great Oakley Primary School"
NEEDED = "A fresh look at how we spend our pupil premium on reading catch-up in Years 3 and 4."
WHY_NOW = "Our disadvantaged pupils' reading fell behind after the new phonics scheme."

SUBMITTED_AT = datetime(2026, 10, 22, 10, 0, tzinfo=UTC)  # Thu 22 Oct, 11:00 BST

_n = itertools.count(1)


@dataclass(frozen=True)
class SupportDirectory:
    """Essex (tests.slack.directory) with the alliances, leads and officers above."""

    essex_id: int
    people: dict[str, int]  # Slack user id -> person id
    alliances: dict[str, int]  # name -> alliance id
    schools: dict[int, int]  # URN -> school id
    north_east: int
    west: int


def build_support_directory(db: Database) -> SupportDirectory:
    base = build_directory(db)
    load_sample_calendar(db, la_code=881)
    essex = base.essex_id
    people = {HEAD: base.people["head"], CHAIR: base.people["chair"]}
    with db.session() as s:
        quadrants = {
            q.name: q.id for q in s.exec(select(Quadrant).where(Quadrant.tenant_id == essex))
        }
        schools = {sc.urn: sc.id for sc in s.exec(select(School).where(School.tenant_id == essex))}
        ne, west = quadrants["North East"], quadrants["West"]
        assert ne is not None and west is not None
        alliances = {
            a.name: a.id for a in s.exec(select(Alliance).where(Alliance.tenant_id == essex))
        }

        def person(user: str, name: str, role: Role, kind: ScopeKind, scope: int | None) -> None:
            assert scope is not None
            people[user] = _person(s, essex, user, name)
            s.add(
                RoleAssignment(
                    tenant_id=essex,
                    person_id=people[user],
                    role=role.value,
                    scope_kind=kind.value,
                    scope_id=scope,
                )
            )

        def alliance(
            name: str, quadrant: int, tags: Iterable[str], capacity: int, lead_school: int | None
        ) -> int:
            row = Alliance(
                tenant_id=essex,
                name=name,
                capacity_days_per_term=capacity,
                lead_school_id=lead_school,
            )
            s.add(row)
            s.flush()
            assert row.id is not None
            s.add(AllianceQuadrant(tenant_id=essex, alliance_id=row.id, quadrant_id=quadrant))
            s.add_all(AllianceExpertise(tenant_id=essex, alliance_id=row.id, tag=t) for t in tags)
            alliances[name] = row.id
            return row.id

        person(NE_OFFICER, "Nia Patel", Role.LA_OFFICER, ScopeKind.QUADRANT, ne)
        person(COUNTY_OFFICER, "Olu Officer", Role.LA_OFFICER, ScopeKind.COUNTY, 0)
        person(OAKWOOD_HEAD, "Hana Oak", Role.HEAD, ScopeKind.SCHOOL, schools[OAKWOOD])
        person(HARLOW_HEAD, "Wes Harlow", Role.HEAD, ScopeKind.SCHOOL, schools[HARLOW])

        alliance(COLNE_ESTUARY, ne, ("pupil_premium", "leadership"), 20, schools[COLNE])
        alliance(STOUR_VALLEY, ne, ("pupil_premium",), 15, None)
        alliance(DEDHAM_VALE, ne, ("pupil_premium", "send"), 10, None)
        alliance(HARLOW_ALLIANCE, west, ("pupil_premium",), 20, schools[HARLOW])
        alliance(BLACKWATER, ne, ("pupil_premium", "send"), 3, None)
        alliance(OAKLEY_ALLIANCE, ne, ("pupil_premium",), 10, schools[GREAT_OAKLEY])
        for name, users in LEADS_OF.items():
            for user in users:
                lead_name = LEAD_NAMES[LEADS.index(user)]
                person(user, lead_name, Role.ALLIANCE_LEAD, ScopeKind.ALLIANCE, alliances[name])
        for name, user, lead_name in (
            (HARLOW_ALLIANCE, WEST_LEAD, "Hal Wick"),
            (TENDRING, TENDRING_LEAD, "Tess Ring"),
            (BLACKWATER, BLACKWATER_LEAD, "Bea Waters"),
            (OAKLEY_ALLIANCE, OAKLEY_LEAD, "Olive Lake"),
        ):
            person(user, lead_name, Role.ALLIANCE_LEAD, ScopeKind.ALLIANCE, alliances[name])
        s.flush()
        colne = schools[COLNE]
        assert colne is not None
        # Blackwater's three days this term are taken by an agreed SEN review at Colne.
        s.add(
            SupportRequest(
                tenant_id=essex,
                reference="SR-2026-0900",
                school_id=colne,
                requested_by=people[CHAIR],
                category_id="sen_review",
                needed="A review of our SEN provision.",
                consent_to_share=True,
                state="agreed",
                claimed_by_alliance_id=alliances[BLACKWATER],
                claimed_by_person_id=people[BLACKWATER_LEAD],
                proposal_days=Decimal(3),
                proposal_starts_on=date(2026, 11, 16),
                proposal_ends_on=date(2026, 11, 18),
                proposal_cost_pence=135000,
                created_at=datetime(2026, 9, 14, 9, 0, tzinfo=UTC),
                updated_at=datetime(2026, 9, 21, 9, 0, tzinfo=UTC),
            )
        )
    return SupportDirectory(
        essex,
        people,
        {k: v for k, v in alliances.items() if v is not None},
        {u: i for u, i in schools.items() if i is not None},
        ne,
        west,
    )


def _person(s: Session, tenant: int, user: str, name: str) -> int:
    email = name.lower().replace(" ", ".") + "@schools.example.org"
    return slack_person(s, tenant, user, name, email)


# --- Slack payloads ----------------------------------------------------------------------------


def action_body(
    user: str,
    action_id: str,
    value: str,
    *,
    message: Posted | None = None,
    response_url: str | None = None,
    home: bool = False,
) -> str:
    """A `block_actions` request for a button: on `message` (a DM as the fake Slack holds it,
    with a response URL), or in the App Home (`home`: a view, no response URL)."""
    n = next(_n)
    payload: JSON = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": ESSEX_TEAM},
        "api_app_id": "A0SLIS",
        "token": "legacy-verification-token",
        "trigger_id": f"{n}.7373.support",
        "team": {"id": ESSEX_TEAM, "domain": "essex-schools"},
        "enterprise": None,
        "is_enterprise_install": False,
        "actions": [
            {
                "action_id": action_id,
                "block_id": f"sb{n}",
                "text": {"type": "plain_text", "text": "Press", "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"1790000000.{n:06d}",
            }
        ],
    }
    if home:
        view_id = f"VHOME{n:06d}"
        payload["container"] = {"type": "view", "view_id": view_id}
        payload["view"] = {
            "id": view_id,
            "team_id": ESSEX_TEAM,
            "type": "home",
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "state": {"values": {}},
            "hash": f"{n}.home",
            "app_id": "A0SLIS",
        }
    else:
        channel = message.channel if message is not None else f"D{user}"
        ts = message.ts if message is not None else f"1790000000.{n:06d}"
        payload["container"] = {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel,
            "is_ephemeral": False,
        }
        payload["channel"] = {"id": channel, "name": "directmessage"}
        payload["message"] = {
            "type": "message",
            "user": "UBOTSLIS",
            "ts": ts,
            "text": (message.text if message is not None else None) or "",
            "blocks": (message.blocks if message is not None else None) or [],
        }
        payload["response_url"] = response_url
    return urlencode({"payload": json.dumps(payload)})


# --- what the fake Slack shows ------------------------------------------------------------------


def dm(user: str) -> str:
    """A person's DM channel with the app, on the fake Slack."""
    return f"D{user}"


def button_ids(message: Posted | JSON | list[JSON]) -> list[str]:
    """The support actions offered by a message's buttons, in order."""
    blocks = _blocks(message)
    return [
        b["action_id"].removeprefix(ACTION_PREFIX)
        for b in buttons(blocks)
        if b["action_id"].startswith(ACTION_PREFIX)
    ]


def _blocks(message: Posted | JSON | list[JSON]) -> list[JSON]:
    if isinstance(message, Posted):
        return list(message.blocks or [])
    if isinstance(message, list):
        return message
    return list(message.get("blocks") or [])


def words(message: Posted | JSON | list[JSON] | None) -> str:
    """All the text of a message (its fallback text and every block's text)."""
    if message is None:
        return ""
    if isinstance(message, Posted):
        return f"{message.text or ''}\n{texts(message.blocks or [])}"
    if isinstance(message, list):
        return texts(message)
    return f"{message.get('text') or ''}\n{texts(message.get('blocks') or [])}"


@dataclass
class Pressed:
    """What came back to the person from one click."""

    status: int
    said: list[JSON]  # what the handler sent to the click's response URL
    opened: Shown | None  # the modal views.open showed
    dm: list[Call]  # chat.postMessage calls the handler made (App Home clicks)

    @property
    def answer(self) -> JSON:
        """The one message the person was shown in answer."""
        shown = [*self.said, *(dict(c.params) for c in self.dm)]
        assert len(shown) == 1, shown
        return shown[0]

    @property
    def text(self) -> str:
        return words(self.answer)


# --- the world ---------------------------------------------------------------------------------


@dataclass
class SupportWorld:
    """The app under test, its core and clock, the fake Slack and the test's relay."""

    slack: SlackHarness
    core: Core
    clock: FakeClock
    relay: Relay
    directory: SupportDirectory
    modals: dict[str, Shown] = field(default_factory=dict)  # the last modal each person saw

    @property
    def db(self) -> Database:
        return self.slack.db

    @property
    def fake(self) -> FakeSlackApi:
        return self.slack.fake

    def person(self, user: str) -> int:
        return self.directory.people[user]

    def user_of(self, person_id: int) -> str:
        return next(u for u, p in self.directory.people.items() if p == person_id)

    # --- time, the sweep and the outbox --------------------------------------------------

    def at(self, when: datetime) -> None:
        assert when >= self.clock.current, "the clock only moves forwards"
        self.clock.current = when

    async def sweep(self) -> SweepCounts:
        """One run of the support sweep (escalations and nudges) at the clock's time."""
        return await asyncio.to_thread(self.core.support.sweep)

    async def deliver(self) -> Delivery:
        """One pass of the relay: what it posted to Slack and which messages it updated."""
        posted, updated = len(self.fake.posted()), len(self.fake.updated())
        await self.relay.run_once()
        return Delivery(self.fake.posted()[posted:], self.fake.updated()[updated:])

    # --- what people hold -----------------------------------------------------------------

    def card(self, user: str, request_id: int) -> Posted:
        """The request's card in `user`'s DM, as it is now."""
        key = f"support:{request_id}:card:{self.person(user)}"
        found = [m for m in self.fake.posted(dm(user)) if m.key == key]
        assert len(found) == 1, f"{user} holds {len(found)} cards of request {request_id}"
        return found[0]

    def notes(self, user: str, request_id: int) -> list[Posted]:
        """The notes about the request in the thread of `user`'s card."""
        prefix = f"support:{request_id}:note:"
        return [m for m in self.fake.posted(dm(user)) if (m.key or "").startswith(prefix)]

    # --- a person in Slack ----------------------------------------------------------------

    async def slash(self, user: str, text: str) -> JSON:
        """`/slis <text>`: the acknowledgement; a modal it opened is kept in `modals[user]`."""
        before = len(self.fake.calls_to("views.open"))
        body = slash_body(text, user=user, response_url=self.hook("command"))
        response = await self.slack.post(body, FORM)
        assert response.status_code == 200, response.text
        ack: JSON = response.json() if response.content else {}
        opened = self.fake.calls_to("views.open")[before:]
        if opened:
            [call] = opened
            assert call.params["trigger_id"] == parse_qs(body)["trigger_id"][0]
            self.modals[user] = self._opened(call, user)
        return ack

    def hook(self, what: str) -> str:
        """A response URL on the fake Slack, told apart from the others by its query (which
        the fake records with what is posted there)."""
        return f"{self.fake.hooks_url}{what}/{ESSEX_TEAM}?hook={next(_n)}"

    def _opened(self, call: Call, user: str) -> Shown:
        view = check_view(view_of(call))
        view.setdefault("id", f"V{next(_n):08d}")
        view.setdefault("hash", f"{next(_n)}.hash")
        return Shown(view, user)

    async def submit_modal(self, user: str, values: Mapping[str, object] | None = None) -> JSON:
        """Send the modal `user` has open with `values` (by block id; the rest as shown): the
        acknowledgement. The result shown in its place becomes what `modals[user]` holds."""
        shown = self.modals[user]
        blocks = {b["block_id"] for b in shown.view["blocks"] if b["type"] == "input"}
        unknown = set(values or {}) - blocks
        assert not unknown, f"the modal has no {unknown}; it has {blocks}"
        state = state_for(shown.view, dict(values or {}))
        body = view_submission_body(shown.view, state, user=user)
        response = await self.slack.post(body, FORM)
        assert response.status_code == 200, response.text
        ack: JSON = response.json() if response.content else {}
        if ack.get("response_action") == "update":
            slack_would_show(ack["view"])
            shown.view = {**ack["view"], "id": shown.view["id"], "hash": f"{next(_n)}.hash"}
        return ack

    async def post_click(self, body: str) -> Pressed:
        """Send a signed `block_actions` body and wait for the handler's work after the ack."""
        opened, said = (
            len(self.fake.calls_to("views.open")),
            len(self.fake.calls_to("response_url")),
        )
        dms = len(self.fake.calls_to("chat.postMessage"))
        response = await self.slack.post(body, FORM)
        await settle()
        return self._pressed(body, response.status_code, opened, said, dms)

    def _pressed(self, body: str, status: int, opened: int, said: int, dms: int) -> Pressed:
        payload = json.loads(parse_qs(body)["payload"][0])
        user = payload["user"]["id"]
        hook = parse_qs(urlsplit(payload.get("response_url") or "").query).get("hook", [None])[0]
        answers = [
            {k: v for k, v in c.params.items() if k != "hook"}
            for c in self.fake.calls_to("response_url")[said:]
            if hook is not None and c.params.get("hook") == hook
        ]
        views = [
            c
            for c in self.fake.calls_to("views.open")[opened:]
            if c.params["trigger_id"] == payload["trigger_id"]
        ]
        shown = self._opened(views[0], user) if views else None
        if shown is not None:
            self.modals[user] = shown
        posted = [
            c for c in self.fake.calls_to("chat.postMessage")[dms:] if c.params["channel"] == user
        ]
        return Pressed(status, answers, shown, posted)

    async def press(self, user: str, message: Posted, action: str) -> Pressed:
        """Press the `action` button of `message` (a card or note in `user`'s DM)."""
        [button] = [
            b for b in buttons(_blocks(message)) if b["action_id"] == ACTION_PREFIX + action
        ]
        body = action_body(
            user, button["action_id"], button["value"], message=message, response_url=self.hook("a")
        )
        return await self.post_click(body)

    async def click(self, user: str, action: str, value: str, *, home: bool = False) -> Pressed:
        """A `slis.support.<action>` click with any value, on a message (or the App Home)
        the person may never have been sent: what a forged or stale button sends."""
        body = action_body(
            user,
            ACTION_PREFIX + action,
            value,
            response_url=None if home else self.hook("a"),
            home=home,
        )
        return await self.post_click(body)

    async def act_submission(self, user: str, metadata: str, values: JSON | None = None) -> JSON:
        """A forged `view_submission` of the action form (`slis.support.act`) with `metadata`
        (`<request id>:<action>`), as if the person had kept an old modal open."""
        view: JSON = {
            "id": f"V{next(_n):08d}",
            "hash": f"{next(_n)}.hash",
            "type": "modal",
            "callback_id": "slis.support.act",
            "private_metadata": json.dumps(
                {"form": "slis.support.act", "page": 0, "meta": metadata}
            ),
            "title": {"type": "plain_text", "text": "Support request"},
            "blocks": [],
        }
        body = view_submission_body(view, {"values": values or {}}, user=user)
        response = await self.slack.post(body, FORM)
        assert response.status_code == 200, response.text
        return dict(response.json()) if response.content else {}

    async def concurrently(self, bodies: list[str]) -> list[httpx.Response]:
        """Send signed requests all at once, each on its own client (as twenty browsers
        would), and wait for the work the handlers do after their acknowledgements."""
        transport = self.slack.http._transport  # the app, in process

        async def one(body: str) -> httpx.Response:
            async with httpx.AsyncClient(transport=transport, base_url="http://slis.test") as http:
                return await http.post(
                    "/slack/events", content=body.encode(), headers=signed_headers(body)
                )

        responses = await asyncio.gather(*(one(b) for b in bodies))
        await settle(30)
        return list(responses)

    # --- the database ---------------------------------------------------------------------

    def request(self, request_id: int) -> SupportRequest:
        with self.db.session() as s:
            row = s.get(SupportRequest, request_id)
            assert row is not None
            return row

    def latest_request(self) -> SupportRequest:
        with self.db.session() as s:
            row = s.exec(select(SupportRequest).order_by(col(SupportRequest.id).desc())).first()
            assert row is not None
            return row

    def events(self, request_id: int) -> list[SupportEvent]:
        with self.db.session() as s:
            return list(
                s.exec(
                    select(SupportEvent)
                    .where(SupportEvent.request_id == request_id)
                    .order_by(col(SupportEvent.id))
                ).all()
            )

    def offers(self, request_id: int) -> dict[str, str]:
        """Each offer's status, by alliance name."""
        names = {i: n for n, i in self.directory.alliances.items()}
        with self.db.session() as s:
            rows = s.exec(select(SupportOffer).where(SupportOffer.request_id == request_id)).all()
        return {names[o.alliance_id]: o.status for o in rows}

    # --- asking ---------------------------------------------------------------------------

    async def ask(self, user: str = HEAD, **answers: object) -> tuple[int, JSON]:
        """`/slis support`, then the form sent with the usual answers (or `answers`): the new
        request's id and the acknowledgement that shows the result."""
        ack = await self.slash(user, "support")
        assert ack == {}, ack
        values: dict[str, object] = {
            "category": CATEGORY,
            "needed": NEEDED,
            "why_now": WHY_NOW,
            "urgency": "high",
            "window_from": "2026-11-02",
            "window_to": "2026-12-11",
            "days": "2",
            "consent": "yes",
        }
        values.update(answers)
        result = await self.submit_modal(user, values)
        assert result.get("response_action") == "update", result
        return self.latest_request().id or 0, result


@dataclass(frozen=True)
class Delivery:
    """What one relay pass did in Slack."""

    posted: list[Posted]
    updated: list[Any]

    def by_channel(self) -> dict[str, list[str]]:
        """The keys posted, by channel, with the card or note part only (`card`, `note`)."""
        out: dict[str, list[str]] = {}
        for m in self.posted:
            out.setdefault(m.channel, []).append(_kind(m.key))
        return out

    def updated_channels(self) -> Counter[str]:
        return Counter(u.channel for u in self.updated)


def _kind(key: str | None) -> str:
    match = re.fullmatch(r"support:\d+:(card|note):.*", key or "")
    return match.group(1) if match else str(key)


@asynccontextmanager
async def support_world(
    database_url: str, db: Database, fake: FakeSlackApi
) -> AsyncIterator[SupportWorld]:
    """The real app over the support directory, with a FakeClock at SUBMITTED_AT."""
    directory = build_support_directory(db)
    clock = FakeClock(SUBMITTED_AT)
    core = Core(db, clock=clock)
    async with serving_core(database_url, db, fake, core) as (harness, relay):
        yield SupportWorld(harness, core, clock, relay, directory)
