"""A directory and a school calendar for the healthcheck round tests (launch, tick, status).

On top of `tests.factories.build_world` (quadrants West and North East; Tendring Coast
Partnership in North East with schools 115141 and 115142; Harlow Learning Trust in West with
115200, 115300 (closed) and 115141), this adds a Project Board member, an administrator, a head
for the closed Old Mill school, two more open West schools with their heads (one in Harlow
Learning Trust, one in no partnership) and a lead for Harlow Learning Trust. Everyone is
fictional.

Heads of open schools, by school:

    115141 All Saints (NE; Tendring and Harlow)   Ada    (chat account)
    115142 Great Oakley Infant (NE; Tendring)     Ben    (chat account; also Tendring's lead)
    115200 Harlow Fields (West; Harlow)           Fay    (no chat account)
    115201 Harlow Meadows (West; Harlow)          Ivy    (chat account)
    115202 Epping Vale (West; no partnership)     Jon    (chat account)
    115300 Old Mill (West; Harlow), CLOSED        Hal    (chat account): never invited

Prompts and nudges go only to people with a chat account: Fay is invited to every round that
asks her school's head but gets no message until `RoundsWorld.link` gives her one.

The calendar (`calendar_2026`) has one autumn term with a half-term closure, and the spring
and summer terms with theirs; the hand-worked dates in the tests come from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import col, select

from bot.services.calendar import Closure, ClosureKind, TenantCalendar, Term
from bot.services.healthcheck.responses import ResponseKeys, record_submission
from bot.services.identity import grants_for
from bot.types import Actor, ChatUser, Platform, Role, ScopeKind
from storage.engine import Database
from storage.models import (
    ChatIdentity,
    Partnership,
    PartnershipMembership,
    Person,
    RoleAssignment,
    School,
    Tenant,
)
from storage.survey_tables import SurveyInvitation, SurveyRound
from tests.factories import SEEDED_AT, World, build_world
from tests.services.healthcheck_world import CONDITIONS

KEYS = ResponseKeys("fictional-pepper-for-tests-" + "x" * 24)

HEAD = "ada.head@schools.example.org"  # head of 115141 (NE; Tendring and Harlow)
LEAD = "ben.lead@schools.example.org"  # lead of Tendring, head of 115142 (NE)
CHAIR = "cara.chair@schools.example.org"  # chair of North East
OFFICER = "dan.officer@la.example.org"  # LA officer
ALLIANCE = "eve.alliance@schools.example.org"  # alliance lead
WEST_HEAD = "fay@schools.example.org"  # head of 115200 (West; Harlow), no chat account
BOARD = "gil.board@la.example.org"  # Project Board member
ADMIN = "ola.admin@la.example.org"  # administrator
OLD_MILL_HEAD = "hal.head@schools.example.org"  # head of 115300, a closed school
MEADOWS_HEAD = "ivy.head@schools.example.org"  # head of 115201 (West; Harlow)
EPPING_HEAD = "jon.head@schools.example.org"  # head of 115202 (West; no partnership)
HARLOW_LEAD = "kit.lead@schools.example.org"  # lead of Harlow Learning Trust

TENDRING = "Tendring Coast Partnership"
HARLOW = "Harlow Learning Trust"

# What the school check-in and the partnership healthcheck accept as a complete answer.
CHECKIN_ANSWERS: dict[str, Any] = {"current_position": "green", "welcome_support": "no"}
HEALTHCHECK_ANSWERS: dict[str, Any] = {
    **{c: 3 for c in CONDITIONS},
    "diamond_nine": [
        ["vision"],
        ["trust", "engagement"],
        ["system_leadership", "la_role", "support_capacity"],
        ["regional_links", "financial_contributions"],
        ["partnership_structures"],
    ],
}
ANSWERS = {"school_checkin": CHECKIN_ANSWERS, "partnership_healthcheck": HEALTHCHECK_ANSWERS}

AUTUMN_HALF_TERM = (date(2026, 10, 26), date(2026, 10, 30))


def calendar_2026(_tenant_id: int = 0) -> TenantCalendar:
    """School year 2026-27 as whole terms, half terms as closures inside them.

    Autumn: Wed 2 Sep to Fri 18 Dec 2026, half term Mon 26 to Fri 30 Oct (the clocks go back on
    Sun 25 Oct). Spring: Mon 4 Jan to Thu 25 Mar 2027, half term 15 to 19 Feb. Summer: Mon 12
    Apr to Wed 21 Jul 2027, half term 31 May to 4 Jun (31 May is a bank holiday as well).
    """
    return TenantCalendar(
        [
            Term("2026-27", "Autumn", date(2026, 9, 2), date(2026, 12, 18)),
            Term("2026-27", "Spring", date(2027, 1, 4), date(2027, 3, 25)),
            Term("2026-27", "Summer", date(2027, 4, 12), date(2027, 7, 21)),
        ],
        [
            Closure(ClosureKind.HALF_TERM, *AUTUMN_HALF_TERM),
            Closure(ClosureKind.HALF_TERM, date(2027, 2, 15), date(2027, 2, 19)),
            Closure(ClosureKind.HALF_TERM, date(2027, 5, 31), date(2027, 6, 4)),
        ],
        timezone="Europe/London",
    )


@dataclass
class RoundsWorld:
    db: Database
    world: World

    @property
    def tenant_id(self) -> int:
        return self.world.tenant_id

    def person(self, email: str) -> int:
        return self.world.people[email]

    def school(self, urn: int) -> int:
        return self.world.schools[urn]

    def partnership(self, name: str) -> int:
        return self.world.partnerships[name]

    def quadrant(self, name: str) -> int:
        return self.world.quadrants[name]

    def actor(self, email: str) -> Actor:
        """The actor for a person with their roles (built directly: not all have chat)."""
        return actor_for(self.db, self.tenant_id, self.person(email), self.world.workspace)

    def add_head(
        self, name: str, email: str, urn: int, school: str, quadrant: str, *, chat: bool = True
    ) -> int:
        """A new open school in `quadrant` (no partnership) and its head; returns the head."""
        with self.db.session() as s:
            row = School(
                tenant_id=self.tenant_id,
                urn=urn,
                name=school,
                phase="Primary",
                establishment_type="Community school",
                status="Open",
                quadrant_id=self.quadrant(quadrant),
                updated_at=SEEDED_AT,
            )
            s.add(row)
            s.flush()
            assert row.id is not None
            self.world.schools[urn] = row.id
        return self.add_person(name, email, [(Role.HEAD, ScopeKind.SCHOOL, row.id)], chat=chat)

    def add_person(
        self,
        name: str,
        email: str,
        roles: list[tuple[Role, ScopeKind, int]],
        *,
        chat: bool = True,
    ) -> int:
        with self.db.session() as s:
            person = Person(tenant_id=self.tenant_id, name=name, email=email)
            s.add(person)
            s.flush()
            assert person.id is not None
            for role, kind, scope_id in roles:
                s.add(
                    RoleAssignment(
                        tenant_id=self.tenant_id,
                        person_id=person.id,
                        role=role.value,
                        scope_kind=kind.value,
                        scope_id=scope_id,
                    )
                )
            if chat:
                s.add(self._chat_identity(person.id))
            self.world.people[email] = person.id
            return person.id

    def link(self, email: str) -> None:
        """Give the person a chat account, as their first use of the bot would."""
        with self.db.session() as s:
            s.add(self._chat_identity(self.person(email)))

    def _chat_identity(self, person_id: int) -> ChatIdentity:
        return ChatIdentity(
            tenant_id=self.tenant_id,
            person_id=person_id,
            platform="slack",
            workspace_id=self.world.workspace,
            user_id=f"U{self.world.workspace}{person_id:05d}",
            linked_at=SEEDED_AT,
        )

    def invitations(self, round_id: int) -> list[SurveyInvitation]:
        with self.db.session() as s:
            return list(
                s.exec(
                    select(SurveyInvitation)
                    .where(SurveyInvitation.round_id == round_id)
                    .order_by(col(SurveyInvitation.id))
                ).all()
            )

    def invitation(self, round_id: int, email: str, subject: tuple[str, int] | None = None) -> int:
        found = [
            i
            for i in self.invitations(round_id)
            if i.person_id == self.person(email)
            and (subject is None or (i.subject_kind, i.subject_id) == subject)
        ]
        assert len(found) == 1, found
        assert found[0].id is not None
        return found[0].id

    def round(self, round_id: int) -> SurveyRound:
        with self.db.session() as s:
            row = s.get(SurveyRound, round_id)
            assert row is not None
            return row

    def answer(
        self,
        round_id: int,
        email: str,
        now: datetime,
        subject: tuple[str, int] | None = None,
        keys: ResponseKeys = KEYS,
    ) -> None:
        """The person's answers to the round, through `record_submission`, in a transaction of
        their own."""
        invitation_id = self.invitation(round_id, email, subject)
        with self.db.session() as s:
            survey = s.get(SurveyRound, round_id)
            invitation = s.get(SurveyInvitation, invitation_id)
            assert survey is not None and invitation is not None
            record_submission(
                s, survey, invitation, ANSWERS[survey.template_id], keys=keys, now=now
            )


def actor_for(db: Database, tenant_id: int, person_id: int, workspace: str) -> Actor:
    with db.session() as s:
        person = s.get(Person, person_id)
        tenant = s.get(Tenant, tenant_id)
        assert person is not None and tenant is not None
        return Actor(
            ChatUser(Platform.SLACK, workspace, f"U{person_id}"),
            tenant_id,
            tenant.name,
            person_id,
            person.name,
            grants_for(s, tenant_id, person_id),
        )


def build_rounds_world(
    db: Database, *, la_code: int = 881, name: str = "Essex", workspace: str = "T0TEST"
) -> RoundsWorld:
    """build_world plus the people and schools listed in the module's notes."""
    rw = RoundsWorld(db, build_world(db, la_code=la_code, name=name, workspace=workspace))
    rw.add_person("Gil Fictitious", BOARD, [(Role.BOARD_MEMBER, ScopeKind.COUNTY, 0)])
    rw.add_person("Ola Madeup", ADMIN, [(Role.ADMINISTRATOR, ScopeKind.COUNTY, 0)])
    rw.add_person(
        "Hal Pretendson", OLD_MILL_HEAD, [(Role.HEAD, ScopeKind.SCHOOL, rw.school(115300))]
    )
    rw.add_head("Ivy Inventa", MEADOWS_HEAD, 115201, "Harlow Meadows Primary School", "West")
    rw.add_head("Jon Storybook", EPPING_HEAD, 115202, "Epping Vale Primary School", "West")
    rw.add_person(
        "Kit Notaperson",
        HARLOW_LEAD,
        [(Role.PARTNERSHIP_LEAD, ScopeKind.PARTNERSHIP, rw.partnership(HARLOW))],
    )
    with db.session() as s:
        harlow = s.get(Partnership, rw.partnership(HARLOW))
        assert harlow is not None and harlow.id is not None
        s.add(
            PartnershipMembership(
                tenant_id=rw.tenant_id, partnership_id=harlow.id, school_id=rw.school(115201)
            )
        )
    return rw
