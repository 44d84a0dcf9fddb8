"""Healthcheck rounds end to end in Slack: the directory, a FakeClock, the real app over the fake
Slack, and the Slack payloads a person sends (a Start button, a page of a modal, Back).

The app's own scheduler is kept from running: the test holds the scheduler lock before the app
starts, so it is the test that says when rounds move on (`tick`) and when the outbox is sent
(`deliver`, one pass of the real relay and Slack Messenger into the fake Slack). Everything a
person does goes in as a correctly signed request, built from what the fake Slack was shown.

The school calendar is the shipped 2026-27 sample: autumn half term is Mon 26 - Fri 30 Oct 2026
and the clocks go back on Sun 25 Oct, so from then on Europe/London is UTC.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from slack_sdk.models.views import View
from sqlmodel import Session, col, select

from bot.core import Core
from bot.services.calendar import load_sample_calendar
from bot.services.healthcheck.prompts import START_ACTION
from bot.services.healthcheck.responses import ResponseKeys
from bot.types import Role, ScopeKind
from handlers.slack.forms import BACK_ACTION
from scheduler.relay import Relay
from storage.engine import Database
from storage.models import ChatIdentity, Person, Quadrant, RoleAssignment, School
from storage.survey_tables import SurveyInvitation, SurveyRound
from tests.factories import SEEDED_AT
from tests.fakes.clock import FakeClock
from tests.fakes.slack_api import Call, FakeSlackApi, Posted
from tests.services.healthcheck_world import CONDITIONS
from tests.slack.directory import (
    CHAIR,
    ESSEX_TEAM,
    HARLOW,
    HEAD,
    OAKWOOD,
    Directory,
    build_directory,
)
from tests.slack.harness import (
    SlackHarness,
    serving_core,
    settle,
    slash_body,
)
from tests.slack.signing import FORM
from tests.slack.test_forms import check_view, state_for

JSON = dict[str, Any]
PAYLOADS = Path(__file__).parent.parent / "fixtures" / "slack" / "payloads"

PEPPER = "slack-end-to-end-pepper-" + "q" * 40
KEYS = ResponseKeys(PEPPER)

# Who is who, besides tests.slack.directory's HEAD (Alice Hart, head of Great Oakley) and CHAIR
# (Chris Chalk, North East chair and head of Colne): all fictional.
OFFICER = "U0OFFICER"  # Olu Officer, LA officer
OAKWOOD_HEAD = "U0OAKHEAD"  # Hana Oak, head of Oakwood Infant School (North East)
HARLOW_HEAD = "U0HARLOWHEAD"  # Wes Harlow, head of Harlow Fields School (West)
LATE_HEAD = "U0LATEHEAD"  # Lena Late, made a head of Oakwood after the launch

# The heads of North East's schools, all in Colne Valley Partnership.
NORTH_EAST_HEADS = (HEAD, CHAIR, OAKWOOD_HEAD)

LAUNCHED_AT = datetime(2026, 10, 22, 10, 0, tzinfo=UTC)  # Thu, before half term (BST)
OPEN_ASKED = "2026-10-26"  # Mon, half term: the round opens the next school day
OPENS_AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # Mon 2 Nov 09:00 GMT
CLOSE_ASKED = "2026-11-13"
CLOSES_AT = datetime(2026, 11, 13, 17, 0, tzinfo=UTC)  # Fri 13 Nov 17:00
# 3 and 6 school days after the open, and the last day, at the open's time of day.
NUDGES_AT = (
    datetime(2026, 11, 5, 9, 0, tzinfo=UTC),
    datetime(2026, 11, 10, 9, 0, tzinfo=UTC),
    datetime(2026, 11, 13, 9, 0, tzinfo=UTC),
)

# A diamond 9: item -> tier (1 greatest strength ... 5 most improvement needed).
DIAMOND = {
    "vision": 1,
    "trust": 2,
    "engagement": 2,
    "system_leadership": 3,
    "la_role": 3,
    "support_capacity": 3,
    "regional_links": 4,
    "financial_contributions": 4,
    "partnership_structures": 5,
}
DIAMOND_STORED = [
    ["vision"],
    ["trust", "engagement"],
    ["system_leadership", "la_role", "support_capacity"],
    ["regional_links", "financial_contributions"],
    ["partnership_structures"],
]

_n = itertools.count(1)


@dataclass(frozen=True)
class HealthcheckDirectory:
    """tests.slack.directory's Essex, plus an LA officer and two more heads."""

    base: Directory
    people: dict[str, int]  # Slack user id -> person id
    north_east: int
    west: int
    schools: dict[int, int]  # URN -> school id


def build_healthcheck_directory(db: Database) -> HealthcheckDirectory:
    base = build_directory(db)
    load_sample_calendar(db, la_code=881)
    essex = base.essex_id
    with db.session() as s:
        quadrants = {
            q.name: q.id for q in s.exec(select(Quadrant).where(Quadrant.tenant_id == essex))
        }
        schools = {sc.urn: sc.id for sc in s.exec(select(School).where(School.tenant_id == essex))}
        people: dict[str, int] = {HEAD: base.people["head"], CHAIR: base.people["chair"]}
        extra = [
            (OFFICER, "Olu Officer", "olu.officer@la.example.org", Role.LA_OFFICER, "county", 0),
            (
                OAKWOOD_HEAD,
                "Hana Oak",
                "hana.oak@oakwood.example.org",
                Role.HEAD,
                "school",
                schools[OAKWOOD],
            ),
            (
                HARLOW_HEAD,
                "Wes Harlow",
                "wes.harlow@harlowfields.example.org",
                Role.HEAD,
                "school",
                schools[HARLOW],
            ),
        ]
        for user, name, email, role, kind, scope in extra:
            person_id = slack_person(s, essex, user, name, email)
            assert scope is not None
            s.add(
                RoleAssignment(
                    tenant_id=essex,
                    person_id=person_id,
                    role=role.value,
                    scope_kind=kind,
                    scope_id=scope,
                )
            )
            people[user] = person_id
    ne, west = quadrants["North East"], quadrants["West"]
    assert ne is not None and west is not None
    return HealthcheckDirectory(
        base, people, ne, west, {u: i for u, i in schools.items() if i is not None}
    )


def slack_person(s: Session, tenant: int, user: str, name: str, email: str) -> int:
    """A person in the directory with a Slack identity in the Essex team; their id."""
    person = Person(tenant_id=tenant, name=name, email=email)
    s.add(person)
    s.flush()
    assert person.id is not None
    s.add(
        ChatIdentity(
            tenant_id=tenant,
            person_id=person.id,
            platform="slack",
            workspace_id=ESSEX_TEAM,
            user_id=user,
            source="directory",
            linked_at=SEEDED_AT,
        )
    )
    return person.id


def add_late_head(db: Database, directory: HealthcheckDirectory) -> int:
    """Lena Late becomes a head in North East (of Oakwood, beside Hana) after the launch."""
    with db.session() as s:
        person_id = slack_person(
            s, directory.base.essex_id, LATE_HEAD, "Lena Late", "lena.late@oakwood.example.org"
        )
        s.add(
            RoleAssignment(
                tenant_id=directory.base.essex_id,
                person_id=person_id,
                role=Role.HEAD.value,
                scope_kind=ScopeKind.SCHOOL.value,
                scope_id=directory.schools[OAKWOOD],
            )
        )
    directory.people[LATE_HEAD] = person_id
    return person_id


# --- Slack payloads ---------------------------------------------------------------------------


def _user(user: str) -> JSON:
    return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": ESSEX_TEAM}


def _team() -> JSON:
    return {"id": ESSEX_TEAM, "domain": "essex-schools"}


def view_submission_body(view: JSON, state: JSON, *, user: str) -> str:
    """A `view_submission` as Slack sends it for `view` (as shown: id, hash, blocks,
    callback_id, private_metadata) with `state`, in the shape of the recorded payload."""
    body: JSON = json.loads((PAYLOADS / "view_submission.json").read_text())
    n = next(_n)
    body.update(
        team=_team(),
        user=_user(user),
        api_app_id="A0SLIS",
        token="legacy-verification-token",
        trigger_id=f"{n}.4242.submit",
    )
    shown = body["view"]
    shown.update(copy.deepcopy(view))
    shown.update(team_id=ESSEX_TEAM, app_installed_team_id=ESSEX_TEAM, app_id="A0SLIS", state=state)
    return urlencode({"payload": json.dumps(body)})


def button_body(
    action_id: str,
    value: str,
    *,
    user: str,
    response_url: str | None = None,
    view: JSON | None = None,
    state: JSON | None = None,
) -> str:
    """A `block_actions` request for a button pressed in a message (with a response URL) or
    in a modal (`view`, with the modal's state, and no response URL)."""
    n = next(_n)
    payload: JSON = {
        "type": "block_actions",
        "user": _user(user),
        "api_app_id": "A0SLIS",
        "token": "legacy-verification-token",
        "trigger_id": f"{n}.4242.click",
        "team": _team(),
        "actions": [
            {
                "action_id": action_id,
                "block_id": action_id if view is not None else f"b{n}",
                "text": {"type": "plain_text", "text": "Start", "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"1790000000.{n:06d}",
            }
        ],
    }
    if view is not None:
        shown = copy.deepcopy(view)
        shown.update(team_id=ESSEX_TEAM, state=state or {"values": {}})
        payload["container"] = {"type": "view", "view_id": shown.get("id")}
        payload["view"] = shown
    else:
        payload["container"] = {
            "type": "message",
            "message_ts": f"1790000000.{n:06d}",
            "channel_id": f"D{user}",
            "is_ephemeral": False,
        }
        payload["channel"] = {"id": f"D{user}", "name": "directmessage"}
        payload["response_url"] = response_url
    return urlencode({"payload": json.dumps(payload)})


def block_answers(view: JSON, answers: Mapping[str, object]) -> dict[str, object]:
    """Answers by field id (a ranking as {item: tier}) as `state_for` takes them: by the input
    block of each element on this page (a ranking's first item's block is the field id, the
    others `<field id>.<item>`); answers to fields on other pages are left out."""
    blocks = {b["block_id"] for b in view["blocks"] if b["type"] == "input"}
    out: dict[str, object] = {}
    for field_id, value in answers.items():
        if isinstance(value, Mapping):
            for item, tier in value.items():
                block = f"{field_id}.{item}"
                block = block if block in blocks else field_id
                if block in blocks:
                    out[block] = str(tier)
        elif field_id in blocks:
            out[field_id] = str(value) if isinstance(value, int) else value
    return out


def slack_would_show(view: JSON) -> JSON:
    """Fail unless Slack would accept the view: a page of a form (tests.slack.test_forms'
    full check), or what is shown in its place (slack_sdk's own checks and the limits)."""
    if "callback_id" in view:
        return check_view(view)
    assert set(view) == {"type", "title", "close", "blocks"}, view.keys()
    assert 1 <= len(view["title"]["text"]) <= 24 and 1 <= len(view["blocks"]) <= 100
    for block in view["blocks"]:
        if block["type"] == "section" and "text" in block:
            assert 1 <= len(block["text"]["text"]) <= 3000
        if block["type"] == "section" and "fields" in block:
            assert 1 <= len(block["fields"]) <= 10
            assert all(1 <= len(f["text"]) <= 2000 for f in block["fields"])
    model = View(**view)
    model.validate_json()
    for block in model.blocks:
        block.validate_json()
    return view


def view_of(call: Call) -> JSON:
    view = call.params["view"]
    return dict(json.loads(view) if isinstance(view, str) else view)


def blocks_of(call: Call) -> list[JSON]:
    blocks = call.params.get("blocks") or []
    return list(json.loads(blocks) if isinstance(blocks, str) else blocks)


def buttons(blocks: list[JSON]) -> list[JSON]:
    return [e for b in blocks if b.get("type") == "actions" for e in b["elements"]]


def texts(node: Any) -> str:
    """Every "text" string in a view, message or blocks, one per line."""
    out: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            if isinstance(item.get("text"), str):
                out.append(item["text"])
            for value in item.values():
                if isinstance(value, dict | list):
                    walk(value)
        elif isinstance(item, list):
            for element in item:
                walk(element)

    walk(node)
    return "\n".join(out)


# --- the world ---------------------------------------------------------------------------------


@dataclass
class Shown:
    """A modal as the person sees it now: the view Slack holds (its id and hash kept)."""

    view: JSON
    user: str

    @property
    def text(self) -> str:
        return texts(self.view.get("blocks", []))

    @property
    def page(self) -> int:
        meta = json.loads(self.view.get("private_metadata") or "{}")
        return int(meta.get("page", 0))


@dataclass
class HealthcheckWorld:
    """The app under test, its core and clock, the fake Slack, and the test's relay."""

    slack: SlackHarness
    core: Core
    clock: FakeClock
    relay: Relay
    directory: HealthcheckDirectory
    delivered: list[Posted] = field(default_factory=list)

    @property
    def db(self) -> Database:
        return self.slack.db

    @property
    def fake(self) -> FakeSlackApi:
        return self.slack.fake

    def person(self, user: str) -> int:
        return self.directory.people[user]

    # --- time and the outbox -------------------------------------------------------------

    def at(self, when: datetime) -> None:
        assert when >= self.clock.current, "the clock only moves forwards"
        self.clock.current = when

    async def tick(self) -> None:
        await asyncio.to_thread(self.core.rounds.tick)

    async def deliver(self) -> list[Posted]:
        """One pass of the relay: what it posted to Slack."""
        before = len(self.fake.posted())
        await self.relay.run_once()
        posted = self.fake.posted()[before:]
        self.delivered += posted
        return posted

    async def tick_and_deliver(self, when: datetime) -> list[Posted]:
        self.at(when)
        await self.tick()
        return await self.deliver()

    def dm_calls(self, user: str) -> list[Call]:
        """The chat.postMessage calls that reached `user`'s direct messages."""
        return [c for c in self.fake.calls_to("chat.postMessage") if c.params["channel"] == user]

    def start_button(self, user: str) -> JSON:
        """The Start button of the latest message to `user`."""
        calls = self.dm_calls(user)
        assert calls, f"nothing was sent to {user}"
        [button] = [b for b in buttons(blocks_of(calls[-1])) if b["action_id"] == START_ACTION]
        return button

    # --- a person in Slack ---------------------------------------------------------------

    async def command(self, text: str, user: str) -> JSON:
        return await self.slack.reply(text, user=user)

    async def open_launch_form(self, user: str = OFFICER) -> tuple[JSON, Shown | None]:
        """`/slis healthcheck launch`: the acknowledgement, and the modal if one opened (on
        the command's own trigger id)."""
        before = len(self.fake.calls_to("views.open"))
        body = slash_body("healthcheck launch", user=user)
        response = await self.slack.post(body, FORM)
        assert response.status_code == 200, response.text
        ack: JSON = response.json() if response.content else {}
        opened = self.fake.calls_to("views.open")[before:]
        if not opened:
            return ack, None
        [call] = opened
        assert call.params["trigger_id"] == parse_qs(body)["trigger_id"][0]
        return ack, self._opened(call, user)

    def _opened(self, call: Call, user: str) -> Shown:
        view = check_view(view_of(call))
        view.setdefault("id", f"V{next(_n):08d}")
        view.setdefault("hash", f"{next(_n)}.hash")
        return Shown(view, user)

    async def submit(
        self,
        shown: Shown,
        answers: Mapping[str, object] | None = None,
        *,
        state: JSON | None = None,
    ) -> JSON:
        """Send the page on screen with `answers` (by field id; the rest as shown); the
        acknowledgement Slack gets. An `update` replaces what `shown` holds (as Slack does)."""
        state = (
            state
            if state is not None
            else state_for(shown.view, block_answers(shown.view, answers or {}))
        )
        body = view_submission_body(shown.view, state, user=shown.user)
        response = await self.slack.post(body, FORM)
        assert response.status_code == 200, response.text
        ack: JSON = response.json() if response.content else {}
        if ack.get("response_action") == "update":
            slack_would_show(ack["view"])
            kept: JSON = {k: shown.view[k] for k in ("id", "hash") if k in shown.view}
            shown.view = {**ack["view"], **kept, "hash": f"{next(_n)}.hash"}
        return ack

    async def press_start(self, user: str, invitation_id: int | str) -> Shown | JSON:
        """Press Start (value = invitation id): the modal that opened, or else the message
        sent to the button's response URL."""
        opened_before = len(self.fake.calls_to("views.open"))
        hooks_before = len(self.fake.calls_to("response_url"))
        hook = self.fake.hooks_url + f"actions/{ESSEX_TEAM}/{next(_n)}/start"
        body = button_body(START_ACTION, str(invitation_id), user=user, response_url=hook)
        response = await self.slack.post(body, FORM)
        assert response.status_code == 200, response.text
        await settle()
        said = self.fake.calls_to("response_url")[hooks_before:]
        if said:  # refused, or Slack would not open the modal
            [answer] = said
            return dict(answer.params)
        [call] = self.fake.calls_to("views.open")[opened_before:]
        payload = json.loads(parse_qs(body)["payload"][0])
        assert call.params["trigger_id"] == payload["trigger_id"]
        return self._opened(call, user)

    async def back(self, shown: Shown, answers: Mapping[str, object] | None = None) -> Shown:
        """Press Back on a page (with `answers` entered on it): the page views.update shows."""
        [back] = [b for b in buttons(shown.view["blocks"]) if b["action_id"] == BACK_ACTION]
        before = len(self.fake.calls_to("views.update"))
        # A button in a modal sends the state as it stands: Slack checks required inputs
        # only when the page is submitted.
        relaxed = copy.deepcopy(shown.view)
        for block in relaxed["blocks"]:
            if block["type"] == "input":
                block["optional"] = True
        state = state_for(relaxed, block_answers(shown.view, answers or {}))
        body = button_body(
            BACK_ACTION, back["value"], user=shown.user, view=shown.view, state=state
        )
        response = await self.slack.post(body, FORM)
        assert response.status_code == 200, response.text
        await settle()
        [update] = self.fake.calls_to("views.update")[before:]
        assert update.params["view_id"] == shown.view["id"]
        assert update.params["hash"] == shown.view["hash"]
        shown.view = {
            **slack_would_show(view_of(update)),
            "id": shown.view["id"],
            "hash": f"{next(_n)}.hash",
        }
        return shown

    async def answer_all(
        self, shown: Shown, answers: Mapping[str, object], *, pages: int | None = None
    ) -> JSON:
        """Send every page with `answers`; the acknowledgement of the last page."""
        sent = 0
        while True:
            ack = await self.submit(shown, answers)
            sent += 1
            assert ack.get("response_action") == "update", ack
            if ack["view"].get("callback_id") is None:  # the summary, not another page
                break
        if pages is not None:
            assert sent == pages
        return ack

    # --- launching -----------------------------------------------------------------------

    async def launch(
        self,
        *,
        template: str = "partnership_healthcheck",
        privacy: str = "anonymous",
        scope: str | None = None,
        user: str = OFFICER,
        **more: object,
    ) -> tuple[int, JSON]:
        """Launch a round to the heads of North East through the launch modal; its id and the
        acknowledgement that shows the confirmation."""
        ack, shown = await self.open_launch_form(user)
        assert shown is not None, ack
        answers: dict[str, object] = {
            "template": template,
            "audience": "head",
            "scope": scope or f"quadrant:{self.directory.north_east}",
            "opens_on": OPEN_ASKED,
            "opens_time": "09:00",
            "closes_on": CLOSE_ASKED,
            "closes_time": "17:00",
            "privacy": privacy,
            **more,
        }
        result = await self.submit(shown, answers)
        assert result.get("response_action") == "update", result
        with self.db.session() as s:
            latest = s.exec(select(SurveyRound.id).order_by(col(SurveyRound.id).desc())).first()
        assert latest is not None
        return latest, result

    async def open_round(self, **launch: Any) -> int:
        """Launch a round, open it at its open time and deliver its prompts."""
        round_id, _ = await self.launch(**launch)
        await self.tick_and_deliver(OPENS_AT)
        return round_id

    def invitations(self, round_id: int) -> dict[str, SurveyInvitation]:
        """The round's invitations by the invitee's Slack user id."""
        users = {p: u for u, p in self.directory.people.items()}
        with self.db.session() as s:
            rows = s.exec(
                select(SurveyInvitation).where(SurveyInvitation.round_id == round_id)
            ).all()
        found = {users[i.person_id]: i for i in rows}
        assert len(found) == len(rows), "one invitation per person in these rounds"
        return found

    def invitation(self, round_id: int, user: str) -> int:
        invitation_id = self.invitations(round_id)[user].id
        assert invitation_id is not None
        return invitation_id

    async def start(
        self, user: str, invitation_id: int | None = None, round_id: int | None = None
    ) -> Shown:
        if invitation_id is None:
            assert round_id is not None
            invitation_id = self.invitation(round_id, user)
        shown = await self.press_start(user, invitation_id)
        assert isinstance(shown, Shown), shown
        return shown


def partnership_answers(rating: int = 3, **overrides: object) -> dict[str, object]:
    """Answers to every page of the partnership healthcheck, by field id."""
    answers: dict[str, object] = dict.fromkeys(CONDITIONS, rating)
    answers["diamond_nine"] = dict(DIAMOND)
    answers.update(overrides)
    return answers


@asynccontextmanager
async def healthcheck_world(
    database_url: str, db: Database, fake: FakeSlackApi
) -> AsyncIterator[HealthcheckWorld]:
    """The real app over the healthcheck directory, with a FakeClock at LAUNCHED_AT."""
    directory = build_healthcheck_directory(db)
    clock = FakeClock(LAUNCHED_AT)
    core = Core(db, clock=clock, response_keys=KEYS)
    async with serving_core(database_url, db, fake, core) as (harness, relay):
        yield HealthcheckWorld(harness, core, clock, relay, directory)
