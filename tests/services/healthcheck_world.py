"""Healthcheck rounds and answers built for report tests, on top of `tests.factories.build_world`.

The numbers the report tests expect are worked out by hand from the answers here; keep the two
in step (each expected figure in the tests says which answers it comes from).

Partnerships: Tendring Coast Partnership (North East; schools 115141 and 115142) and Harlow
Learning Trust (West; schools 115200, 115300 and 115141), from build_world, and Wrenfold Learning
Partnership (West; schools 990101, 990102 and 990103, each with its own head), added here.

Why three: every report of a round hides the same groups, decided once for the round over
county ⊃ quadrants ⊃ partnerships: groups under k (3) are hidden ("small"), and then more,
smallest first, until no shown parent (the county, a quadrant) has 1 to k − 1 responses outside
its shown children ("complement"). In the current healthcheck round Tendring has 4 responses,
Harlow 2 and Wrenfold 3; North East (Tendring) 4, West (Harlow and Wrenfold) 5, the county 9.
So Harlow is small; showing Tendring and Wrenfold would leave Harlow's 2 alone outside them in
the county (and Wrenfold alone would leave them in West), so Wrenfold is hidden too, in every
report, its own included; the county, both quadrants and Tendring are shown (outside Tendring
in the county: 5; in West, with no partnership shown: 5).
`healthcheck_rounds(rw, wrenfold=False)` leaves Wrenfold out: Tendring 4, Harlow 2, so West 2
(small), North East 4 and the county 6. Showing North East, or Tendring, would give Harlow's 2
away (the county less either), so both are hidden, and only the county is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from bot.services.healthcheck import shipped_templates
from bot.services.healthcheck.responses import ResponseKeys, record_submission
from bot.services.identity import grants_for
from bot.types import Actor, ChatUser, Platform, Role, ScopeKind
from storage.engine import Database
from storage.models import (
    Partnership,
    PartnershipMembership,
    Person,
    RoleAssignment,
    School,
    Tenant,
)
from storage.survey_tables import SurveyInvitation, SurveyRound
from tests.factories import SEEDED_AT, World, build_world

KEYS = ResponseKeys("x" * 48)

HEAD = "ada.head@schools.example.org"  # head of 115141 (in both partnerships)
LEAD = "ben.lead@schools.example.org"  # lead of Tendring Coast, head of 115142
CHAIR = "cara.chair@schools.example.org"  # chair of North East
OFFICER = "dan.officer@la.example.org"  # LA officer
ALLIANCE = "eve.alliance@schools.example.org"  # alliance lead: no report
WEST_HEAD = "fay@schools.example.org"  # head of 115200 (Harlow Learning Trust)
BOARD = "gil.board@la.example.org"  # Project Board member
OLD_MILL_HEAD = "hal.head@schools.example.org"  # head of 115300 (Harlow Learning Trust)
WEST_CHAIR = "iris.chair@schools.example.org"  # chair of West
WREN_HEAD = "jo.head@schools.example.org"  # head of 990101 (Wrenfold Learning Partnership)
LITTLE_WREN_HEAD = "kit.head@schools.example.org"  # head of 990102 (Wrenfold)
MARSH_END_HEAD = "lou.head@schools.example.org"  # head of 990103 (Wrenfold)

TENDRING = "Tendring Coast Partnership"
HARLOW = "Harlow Learning Trust"
WRENFOLD = "Wrenfold Learning Partnership"

# The third partnership's schools (fictional), all in West, and their heads.
WRENFOLD_SCHOOLS = (
    (990101, "Wrenfold Primary School", "Jo Inventedly", WREN_HEAD),
    (990102, "Little Wrenfold Infant School", "Kit Nonesuch", LITTLE_WREN_HEAD),
    (990103, "Marsh End Junior School", "Lou Fabulist", MARSH_END_HEAD),
)

# Respondents with no role of interest: extra heads answering the partnership healthcheck.
EXTRA_PEOPLE = {
    "ted.one@schools.example.org": "Ted Inventa",
    "una.two@schools.example.org": "Una Fabrica",
    "vic.three@schools.example.org": "Vic Imaginario",
    "wyn.four@schools.example.org": "Wyn Storybook",
    "xan.five@schools.example.org": "Xan Notaperson",
}

CONDITIONS = (
    "vision",
    "trust",
    "engagement",
    "system_leadership",
    "la_role",
    "support_capacity",
    "regional_links",
    "financial_contributions",
    "partnership_structures",
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # the previous healthcheck round opens
T1 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # the current one


def ratings(*values: int) -> dict[str, int]:
    """The nine condition ratings, in CONDITIONS order."""
    assert len(values) == len(CONDITIONS)
    return dict(zip(CONDITIONS, values, strict=True))


def diamond(*tiers: list[str]) -> list[list[str]]:
    assert [len(t) for t in tiers] == [1, 2, 3, 2, 1]
    return [list(t) for t in tiers]


@dataclass
class ReportWorld:
    """build_world's directory plus the healthcheck rounds the tests report on."""

    db: Database
    world: World
    rounds: dict[str, int] = field(default_factory=dict)

    @property
    def tenant_id(self) -> int:
        return self.world.tenant_id

    def person(self, email: str) -> int:
        return self.world.people[email]

    def actor(self, email: str) -> Actor:
        """The actor for a person, with their roles (built directly: not everyone has chat)."""
        person_id = self.person(email)
        with self.db.session() as s:
            person = s.get(Person, person_id)
            tenant = s.get(Tenant, self.tenant_id)
            assert person is not None and tenant is not None
            grants = grants_for(s, self.tenant_id, person_id)
            return Actor(
                ChatUser(Platform.SLACK, self.world.workspace, f"U{person_id}"),
                self.tenant_id,
                tenant.name,
                person_id,
                person.name,
                grants,
            )


def build_report_world(db: Database, *, la_code: int = 881, name: str = "Essex") -> ReportWorld:
    """build_world plus a Board member, a head for Old Mill, a chair for West, five more
    respondents, a third partnership (Wrenfold, West) of three schools with a head each, and
    no rounds yet."""
    world = build_world(db, la_code=la_code, name=name, workspace=f"T0{la_code}")
    with db.session() as s:
        west = world.quadrants["West"]
        wrenfold = Partnership(
            tenant_id=world.tenant_id, name=WRENFOLD, kind="slis_cluster", quadrant_id=west
        )
        s.add(wrenfold)
        s.flush()
        assert wrenfold.id is not None
        world.partnerships[WRENFOLD] = wrenfold.id
        wrenfold_heads = []
        for urn, school_name, head_name, email in WRENFOLD_SCHOOLS:
            school = School(
                tenant_id=world.tenant_id,
                urn=urn,
                name=school_name,
                phase="Primary",
                establishment_type="Community school",
                status="Open",
                quadrant_id=west,
                updated_at=SEEDED_AT,
            )
            s.add(school)
            s.flush()
            assert school.id is not None
            world.schools[urn] = school.id
            s.add(
                PartnershipMembership(
                    tenant_id=world.tenant_id, partnership_id=wrenfold.id, school_id=school.id
                )
            )
            wrenfold_heads.append((head_name, email, [(Role.HEAD, ScopeKind.SCHOOL, school.id)]))
        extra = [
            ("Gil Fictitious", BOARD, [(Role.BOARD_MEMBER, ScopeKind.COUNTY, 0)]),
            (
                "Hal Madeup",
                OLD_MILL_HEAD,
                [(Role.HEAD, ScopeKind.SCHOOL, world.schools[115300])],
            ),
            (
                "Iris Pretendy",
                WEST_CHAIR,
                [(Role.QUADRANT_CHAIR, ScopeKind.QUADRANT, world.quadrants["West"])],
            ),
            *wrenfold_heads,
            *((n, e, []) for e, n in EXTRA_PEOPLE.items()),
        ]
        for person_name, email, roles in extra:
            person = Person(tenant_id=world.tenant_id, name=person_name, email=email)
            s.add(person)
            s.flush()
            assert person.id is not None
            world.people[email] = person.id
            for role, kind, scope_id in roles:
                s.add(
                    RoleAssignment(
                        tenant_id=world.tenant_id,
                        person_id=person.id,
                        role=role.value,
                        scope_kind=kind.value,
                        scope_id=scope_id,
                    )
                )
    return ReportWorld(db, world)


Invitee = tuple[int, str, int, str, int]  # person, subject kind and id, response subject


def launch(
    rw: ReportWorld,
    template_id: str,
    invitees: list[Invitee],
    *,
    anonymous: bool,
    opens: datetime,
    status: str = "closed",
    title: str | None = None,
) -> int:
    """A round frozen at launch, as the rounds service will make it; returns its id."""
    template = shipped_templates()[template_id]
    with rw.db.session() as s:
        survey = SurveyRound(
            tenant_id=rw.tenant_id,
            template_id=template.id,
            template_snapshot=template.snapshot(),
            title=title or template.title,
            launched_by=rw.person(OFFICER),
            audience_role="head",
            audience_scope_kind="county",
            audience_label="Heads, whole local authority",
            opens_at=opens,
            closes_at=opens + timedelta(days=14),
            anonymous=anonymous,
            nudge_plan={"after_school_days": [3], "last_day": True},
            status=status,
            created_at=opens,
        )
        s.add(survey)
        s.flush()
        assert survey.id is not None
        for person_id, kind, subject_id, response_kind, response_id in invitees:
            s.add(
                SurveyInvitation(
                    tenant_id=rw.tenant_id,
                    round_id=survey.id,
                    person_id=person_id,
                    subject_kind=kind,
                    subject_id=subject_id,
                    response_subject_kind=response_kind,
                    response_subject_id=response_id,
                )
            )
        return survey.id


def submit(
    rw: ReportWorld,
    round_id: int,
    person_id: int,
    answers: dict[str, Any],
    comments: dict[str, str] | None = None,
) -> None:
    """One person's answers, through record_submission, in a transaction of their own."""
    with rw.db.session() as s:
        survey = s.get(SurveyRound, round_id)
        assert survey is not None
        invitation = s.exec(
            select(SurveyInvitation).where(
                SurveyInvitation.round_id == round_id, SurveyInvitation.person_id == person_id
            )
        ).one()
        record_submission(s, survey, invitation, answers, comments, keys=KEYS, now=survey.opens_at)


# --- the partnership healthcheck: the hand-computed fixture ---------------------------------

# Tendring Coast (partnership A): four respondents this round.
A_PEOPLE = (LEAD, HEAD, "ted.one@schools.example.org", "una.two@schools.example.org")
# Harlow Learning Trust (partnership B): two respondents this round, three last round.
B_PEOPLE = (WEST_HEAD, OLD_MILL_HEAD, "vic.three@schools.example.org")

A_NOW = (
    ratings(4, 2, 3, 3, 2, 2, 1, 1, 3),
    ratings(3, 1, 3, 2, 2, 3, 2, 1, 3),
    ratings(4, 2, 2, 3, 3, 2, 1, 2, 4),
    ratings(3, 2, 4, 4, 1, 2, 2, 1, 2),
)
A_DIAMONDS = (
    diamond(
        ["vision"],
        ["engagement", "partnership_structures"],
        ["system_leadership", "trust", "la_role"],
        ["support_capacity", "regional_links"],
        ["financial_contributions"],
    ),
    diamond(
        ["engagement"],
        ["vision", "system_leadership"],
        ["partnership_structures", "support_capacity", "la_role"],
        ["trust", "regional_links"],
        ["financial_contributions"],
    ),
    diamond(
        ["vision"],
        ["partnership_structures", "system_leadership"],
        ["engagement", "la_role", "support_capacity"],
        ["trust", "financial_contributions"],
        ["regional_links"],
    ),
    diamond(
        ["system_leadership"],
        ["engagement", "vision"],
        ["partnership_structures", "trust", "support_capacity"],
        ["la_role", "regional_links"],
        ["financial_contributions"],
    ),
)
A_COMMENTS = (
    {"trust": "Trust has slipped since the restructure."},
    {},
    {"trust": "Meetings feel guarded."},
    {},
)
# Last round: trust 3, 3, 3, 2 and vision 3 for all; the rest as now.
A_BEFORE = tuple({**r, "trust": t, "vision": 3} for r, t in zip(A_NOW, (3, 3, 3, 2), strict=True))

B_NOW = (ratings(4, 1, 4, 4, 4, 4, 4, 4, 4), ratings(4, 4, 4, 4, 4, 4, 4, 4, 4))
B_COMMENTS = ({"vision": "Our vision is strong."}, {})
B_BEFORE = (ratings(3, 3, 3, 3, 3, 3, 3, 3, 3),) * 3

# Wrenfold (partnership C): three respondents this round and last. Last round all 3s; this round
# the same but for regional links, 2 2 1 (mean 5 / 3 = 1.67, a fall of 1.33): in its own report
# Wrenfold is flagged, in the county and West reports (where it is suppressed) it is not.
C_PEOPLE = (WREN_HEAD, LITTLE_WREN_HEAD, MARSH_END_HEAD)
C_NOW = (
    ratings(3, 3, 3, 3, 3, 3, 2, 3, 3),
    ratings(3, 3, 3, 3, 3, 3, 2, 3, 3),
    ratings(3, 3, 3, 3, 3, 3, 1, 3, 3),
)
C_BEFORE = (ratings(3, 3, 3, 3, 3, 3, 3, 3, 3),) * 3

PLAIN_DIAMOND = diamond(
    ["vision"],
    ["trust", "engagement"],
    ["system_leadership", "la_role", "support_capacity"],
    ["regional_links", "financial_contributions"],
    ["partnership_structures"],
)


def healthcheck_rounds(rw: ReportWorld, *, anonymous: bool = True, wrenfold: bool = True) -> None:
    """The previous and the current partnership healthcheck (closed), and a draft after them.

    With `wrenfold=False` Wrenfold's heads are not invited: Tendring and Harlow alone.
    Sets rw.rounds["before"], ["now"] and ["draft"].
    """
    tendring = rw.world.partnerships[TENDRING]
    harlow = rw.world.partnerships[HARLOW]
    wrenfold_id = rw.world.partnerships[WRENFOLD]

    def invitees(people: tuple[str, ...], partnership: int) -> list[Invitee]:
        return [
            (rw.person(p), "partnership", partnership, "partnership", partnership) for p in people
        ]

    everyone = invitees(A_PEOPLE, tendring) + invitees(B_PEOPLE, harlow)
    if wrenfold:
        everyone += invitees(C_PEOPLE, wrenfold_id)
    before = launch(
        rw,
        "partnership_healthcheck",
        everyone,
        anonymous=anonymous,
        opens=T0,
        title="Partnership healthcheck, spring 2026",
    )
    for person, answers in zip(A_PEOPLE, A_BEFORE, strict=True):
        submit(rw, before, rw.person(person), {**answers, "diamond_nine": PLAIN_DIAMOND})
    for person, answers in zip(B_PEOPLE, B_BEFORE, strict=True):
        submit(rw, before, rw.person(person), {**answers, "diamond_nine": PLAIN_DIAMOND})
    for person, answers in zip(C_PEOPLE, C_BEFORE, strict=True):
        if wrenfold:
            submit(rw, before, rw.person(person), {**answers, "diamond_nine": PLAIN_DIAMOND})
    now = launch(
        rw,
        "partnership_healthcheck",
        everyone,
        anonymous=anonymous,
        opens=T1,
        title="Partnership healthcheck, autumn 2026",
    )
    for person, answers, ranking, comments in zip(
        A_PEOPLE, A_NOW, A_DIAMONDS, A_COMMENTS, strict=True
    ):
        submit(rw, now, rw.person(person), {**answers, "diamond_nine": ranking}, comments)
    for person, answers, comments in zip(B_PEOPLE[:2], B_NOW, B_COMMENTS, strict=True):
        submit(rw, now, rw.person(person), {**answers, "diamond_nine": PLAIN_DIAMOND}, comments)
    for person, answers in zip(C_PEOPLE, C_NOW, strict=True):
        if wrenfold:
            submit(rw, now, rw.person(person), {**answers, "diamond_nine": PLAIN_DIAMOND})
    draft = launch(
        rw,
        "partnership_healthcheck",
        everyone,
        anonymous=anonymous,
        opens=T1 + timedelta(days=120),
        status="draft",
        title="Partnership healthcheck, spring 2027",
    )
    rw.rounds |= {"before": before, "now": now, "draft": draft}


# --- the school check-in: RAG flags -----------------------------------------------------------


def checkin_round(
    rw: ReportWorld, *, anonymous: bool = False, opens: datetime | None = None
) -> int:
    """A school check-in of the seven heads; Tendring's two schools answer, Harlow's three,
    and two of Wrenfold's three (990101 and 990102; Marsh End, 990103, does not).

    Named: responses are filed under each school, and a school counts in its first partnership
    by id: 115141, in both, counts in Tendring (created first). Tendring (115141, 115142),
    Harlow (115200, 115300) and Wrenfold (990101, 990102) have 2 each, all under k; North East
    2 (small), West 4, hidden to protect North East (the county less West would be its 2): only
    the county (6) is shown.
    Anonymous: under the partnership chosen at launch (115141 under Harlow Learning Trust), so
    Harlow has 3 responses, Tendring 1 and Wrenfold 2; North East 1, West 5. West is hidden (the
    county less West would be 115142 alone), Harlow shown: outside it in the county are 3
    (115142 and Wrenfold's two), exactly k.
    """
    w = rw.world
    harlow, tendring = w.partnerships[HARLOW], w.partnerships[TENDRING]
    wrenfold = w.partnerships[WRENFOLD]
    heads = [
        (HEAD, 115141, harlow),
        (LEAD, 115142, tendring),
        (WEST_HEAD, 115200, harlow),
        (OLD_MILL_HEAD, 115300, harlow),
        *((email, urn, wrenfold) for urn, _, _, email in WRENFOLD_SCHOOLS),
    ]
    invitees: list[Invitee] = [
        (
            rw.person(email),
            "school",
            w.schools[urn],
            "partnership" if anonymous else "school",
            partnership if anonymous else w.schools[urn],
        )
        for email, urn, partnership in heads
    ]
    round_id = launch(
        rw,
        "school_checkin",
        invitees,
        anonymous=anonymous,
        opens=opens or T1 + timedelta(days=3),
        status="open",
    )
    answers = {
        HEAD: {
            "current_position": "red",
            "welcome_support": "yes",
            "position_notes": "Two senior leaders are off long term.",
        },
        LEAD: {"current_position": "red", "welcome_support": "yes"},
        WEST_HEAD: {"current_position": "green", "welcome_support": "no"},
        OLD_MILL_HEAD: {
            "current_position": "amber",
            "welcome_support": "not_now",
            "position_notes": "Falling rolls.",
        },
        WREN_HEAD: {"current_position": "green", "welcome_support": "yes"},
        LITTLE_WREN_HEAD: {"current_position": "green", "welcome_support": "no"},
    }
    for email, given in answers.items():
        submit(rw, round_id, rw.person(email), given)
    return round_id


def later_round(rw: ReportWorld) -> int:
    """A third healthcheck, after the current one (so it is compared with it), that everyone
    answers: Tendring 4 (A_NOW again), Harlow 3 and Wrenfold 3 (all 3s, with the diamond
    PLAIN_DIAMOND); North East 4, West 6, the county 10, all shown. In the round it is compared
    with (the current one) Harlow was small and Wrenfold hidden to protect it."""
    w = rw.world
    tendring, harlow, wrenfold = (w.partnerships[p] for p in (TENDRING, HARLOW, WRENFOLD))
    people = [(p, tendring) for p in A_PEOPLE]
    people += [(p, harlow) for p in B_PEOPLE] + [(p, wrenfold) for p in C_PEOPLE]
    round_id = launch(
        rw,
        "partnership_healthcheck",
        [(rw.person(p), "partnership", at, "partnership", at) for p, at in people],
        anonymous=True,
        opens=T1 + timedelta(days=60),
        title="Partnership healthcheck, winter 2027",
    )
    for person, answers in zip(A_PEOPLE, A_NOW, strict=True):
        submit(rw, round_id, rw.person(person), {**answers, "diamond_nine": PLAIN_DIAMOND})
    for person in B_PEOPLE + C_PEOPLE:
        submit(rw, round_id, rw.person(person), {**C_BEFORE[0], "diamond_nine": PLAIN_DIAMOND})
    rw.rounds["later"] = round_id
    return round_id


def share_schools(rw: ReportWorld) -> None:
    """Two of Wrenfold's schools join a second partnership: 990101 Tendring Coast and 990102
    Harlow Learning Trust (both created before Wrenfold, so each counts in its new one)."""
    w = rw.world
    with rw.db.session() as s:
        for urn, partnership in ((990101, TENDRING), (990102, HARLOW)):
            s.add(
                PartnershipMembership(
                    tenant_id=rw.tenant_id,
                    partnership_id=w.partnerships[partnership],
                    school_id=w.schools[urn],
                )
            )
