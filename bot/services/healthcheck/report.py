"""Healthcheck round reports: `/slis healthcheck report [round] [scope]`.

A report aggregates one round's responses over a scope (the whole local authority, a quadrant or
a partnership): per question the number of answers, the mean and distribution of scale ratings,
counts of RAG, single and multiple choices, the aggregated ranking (diamond 9), the change of
each mean since the previous round of the same template, the free text without names, and, for
a county or quadrant, a partnership × question table (the heat map). It also flags partnerships
needing attention.

Who sees what: the Project Board, LA officers and administrators every report in their local
authority; a quadrant chair their quadrant and its partnerships; a partnership lead their
partnership; a head their school's partnership, and their own answers. Nobody else.

k-suppression, one decision per round. Every report of a round (county, quadrant or
partnership, whoever asks) hides the same groups, decided once from the round's responses and
the directory alone (`suppression`), so that no report can be set against another to work out
a hidden group's answers:

- Each response counts in exactly one partnership and one quadrant, so the groups nest: the
  county ⊃ its quadrants ⊃ their partnerships. A partnership's response counts in that
  partnership. A school's (a named round of a school template) counts in the school's first
  partnership by partnership id, the partnership anonymous rounds file it under at launch
  (`audience._school_group`): a school in two partnerships counts in the first only, so no
  answer is counted twice and the two partnerships' reports cannot be set against the county's
  to isolate it. A response counts in its partnership's quadrant (even where a school's own
  quadrant differs; in none if the partnership has none); a response with no partnership counts
  only in its school's (or its own) quadrant and the county.
- A group (partnership, quadrant, county) with fewer than `min_group` (k) responses is
  suppressed: reason "small".
- For every shown parent (the county, each quadrant) and each set of its children (the county's
  quadrants; the county's partnerships; a quadrant's partnerships; and the largest shown groups
  inside the county, that is its shown quadrants and the shown partnerships outside them), the
  responses of the parent in no shown child must be none or at least k; else the smallest shown
  child (ties by name) is suppressed too, reason "complement" (it protects another group), and
  so on until nothing changes. The last set matters once a quadrant is hidden: the county less
  the shown quadrants is then the hidden quadrants' total, which less their shown partnerships
  must not leave fewer than k responses.

A suppressed group has no count of responses, no mean, no distribution, no text and no flag in
any report (its own partnership or quadrant report too, even for its lead or its heads; a head
still sees their own answers, which are not aggregate data), so nothing downstream (the reply,
the charts, the exports) can show them by mistake. The change since the previous round is shown
for a group only where the previous round's own decision, made the same way from its responses,
showed that group; else it is "not comparable".

What this does not cover. A question answered by fewer than k people within a shown group is
suppressed, but can still be differenced against the scope's figure for that question (the
group's other answers are shown). And a person who sees reports over several rounds, as rounds
change who answers and the directory changes partnerships, may compare them: each round is
protected on its own, not against every other.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from bot import authorisation
from bot.errors import NotFound, UserError
from bot.services.healthcheck.responses import ResponseKeys, find_response
from bot.services.healthcheck.templates import (
    RAG,
    MultipleQuestion,
    Question,
    RagQuestion,
    RankingQuestion,
    ScaleQuestion,
    SingleQuestion,
    Template,
    TextQuestion,
)
from bot.types import Actor, Role, ScopeKind
from storage.engine import Database
from storage.models import (
    Partnership,
    PartnershipMembership,
    Quadrant,
    School,
    Tenant,
    aware,
)
from storage.survey_tables import SurveyAnswer, SurveyInvitation, SurveyResponse, SurveyRound

DEFAULT_MIN_GROUP = 3
OPENED = ("open", "closed")
# Who sees every report in their local authority.
REPORT_ENTRY = authorisation.command("healthcheck report")
COUNTY_ROLES = frozenset({Role.BOARD_MEMBER, Role.LA_OFFICER, Role.ADMINISTRATOR})
# Who may ask for a report at all (which one, the scope decides).
REPORT_ROLES = COUNTY_ROLES | {Role.QUADRANT_CHAIR, Role.PARTNERSHIP_LEAD, Role.HEAD}
# Who may press "Offer support" by a flagged partnership: they see flags across partnerships.
SUGGESTING_ROLES = COUNTY_ROLES | {Role.QUADRANT_CHAIR}
FALL_FLAG = Fraction(1)  # a partnership whose mean fell by this much or more needs attention
RECENT_SHOWN = 5

# Words for the shipped templates; a template id works too.
TEMPLATE_WORDS: dict[str, str] = {
    "healthcheck": "partnership_healthcheck",
    "partnership healthcheck": "partnership_healthcheck",
    "maturity": "partnership_maturity",
    "partnership maturity": "partnership_maturity",
    "check-in": "school_checkin",
    "checkin": "school_checkin",
    "school check-in": "school_checkin",
    "school checkin": "school_checkin",
}
COUNTY_WORDS = frozenset({"county", "all", "whole county", "everything"})
_ROUND_ID = re.compile(r"#?(\d{1,9})")
_HASH_ROUND = re.compile(r"(?:^|\s)#(\d{1,9})(?=\s|$)")

ScopeKindName = Literal["county", "quadrant", "partnership"]
# Why a group is hidden: fewer than k responses, or to protect another (smaller) group.
SuppressedReason = Literal["small", "complement"]
# Why a comparison with the previous round is not shown: the previous group was small or
# hidden to protect another, or too few answered the question then.
ComparisonReason = Literal["small", "complement", "answers"]
# A group of responses: ("county", None), ("quadrant", id) or ("partnership", id).
GroupKey = tuple[ScopeKindName, int | None]
COUNTY: GroupKey = ("county", None)


# --- the report -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundInfo:
    """A round as a report describes it; times are UTC, `zone` is the tenant's."""

    id: int
    title: str
    template_id: str
    template_title: str
    opens_at: datetime
    closes_at: datetime
    status: str  # open | closed
    anonymous: bool
    zone: str

    @property
    def still_open(self) -> bool:
        return self.status == "open"

    @property
    def dates(self) -> str:
        """e.g. "2 Nov – 16 Nov 2026", in the tenant's time zone."""
        return date_range(self.opens_at, self.closes_at, ZoneInfo(self.zone))

    @property
    def closes_on(self) -> str:
        """e.g. "16 Nov 2026", in the tenant's time zone."""
        end = self.closes_at.astimezone(ZoneInfo(self.zone))
        return f"{end.day} {end:%b %Y}"

    @property
    def ref(self) -> str:
        return f"#{self.id} {self.title} ({self.dates})"


@dataclass(frozen=True)
class ReportScope:
    """What the report covers."""

    kind: ScopeKindName
    id: int | None
    name: str  # the tenant's, quadrant's or partnership's name

    @property
    def label(self) -> str:
        if self.kind == "county":
            return f"{self.name} (whole local authority)"
        if self.kind == "quadrant":
            return f"{self.name} quadrant"
        return self.name


@dataclass(frozen=True)
class Count:
    """How many answers chose one option: a scale point, a RAG colour, a choice."""

    key: str
    label: str
    count: int


@dataclass(frozen=True)
class RankedItem:
    """An item of a ranking and its mean tier over the answers (1 = top), to 2 dp."""

    item_id: str
    label: str
    mean_tier: float


@dataclass(frozen=True)
class Comparison:
    """A scale question's mean in the previous round of the template, same group."""

    round_id: int
    suppressed: bool  # the previous group was suppressed, or under k answered the question
    previous_mean: float | None = None
    change: float | None = None  # this round's mean less the previous one, to 2 dp
    reason: ComparisonReason | None = None  # why not, when suppressed


@dataclass(frozen=True)
class QuestionResult:
    """One question's aggregate within one group; the numbers are None when suppressed."""

    question_id: str
    kind: str  # scale | single | multiple | rag | text | ranking
    text: str
    label: str  # short: the item the question rates, else its text
    suppressed: bool
    n: int | None = None  # how many answered it
    mean: float | None = None  # scale, to 2 dp
    counts: tuple[Count, ...] = ()  # scale points, RAG colours, choices, in template order
    previous: Comparison | None = None  # scale, when there is a previous round
    ranking: tuple[RankedItem, ...] = ()  # best first
    diamond: tuple[tuple[RankedItem, ...], ...] = ()  # `ranking` placed in the template's shape
    answers: tuple[str, ...] = ()  # text answers, sorted; the report's scope only
    comments: tuple[str, ...] = ()  # sorted; the report's scope only


@dataclass(frozen=True)
class GroupResult:
    """The aggregates of one group of responses (the scope, or a partnership in it)."""

    kind: ScopeKindName
    id: int | None
    name: str
    invited: int
    suppressed_reason: SuppressedReason | None  # None when shown
    responses: int | None  # None when suppressed
    questions: tuple[QuestionResult, ...]

    @property
    def suppressed(self) -> bool:
        return self.suppressed_reason is not None

    def question(self, question_id: str) -> QuestionResult:
        for result in self.questions:
            if result.question_id == question_id:
                return result
        raise KeyError(question_id)


@dataclass(frozen=True)
class Flag:
    """A partnership needing attention, and why."""

    partnership_id: int
    partnership: str
    reason: str
    question_id: str | None = None
    # Whether the reader may suggest support to the partnership's leads (a button by the flag).
    can_offer_support: bool = False


@dataclass(frozen=True)
class OwnAnswer:
    """One of the asker's own answers, in words."""

    question: str
    answer: str
    comment: str | None = None


@dataclass(frozen=True)
class OwnResponse:
    """What the asker sent for one subject (their school or partnership)."""

    subject: str
    answers: tuple[OwnAnswer, ...]


@dataclass(frozen=True)
class RoundReport:
    """Everything `/slis healthcheck report` shows, already suppressed where groups are small."""

    round: RoundInfo
    previous_round: RoundInfo | None
    scope: ReportScope
    min_group: int
    overall: GroupResult
    partnerships: tuple[GroupResult, ...]  # county and quadrant scopes: the heat map's rows
    flags: tuple[Flag, ...]
    template: Template = field(repr=False, compare=False)
    own: tuple[OwnResponse, ...] = ()  # the asker's own answers: for them alone, never exported
    own_note: str | None = None  # why their own answers are not shown, if they cannot be
    counting_note: str | None = None  # which partnership a school in two counts in, if any

    def scale_questions(self) -> tuple[QuestionResult, ...]:
        return tuple(q for q in self.overall.questions if q.kind == "scale")

    def any_complement(self) -> bool:
        """Whether a group in the report is hidden to protect another."""
        return any(g.suppressed_reason == "complement" for g in (self.overall, *self.partnerships))


def hidden_because(reason: SuppressedReason, k: int) -> str:
    """Why a group shows nothing, in words: "fewer than 3 responses", or that it protects
    another group."""
    if reason == "small":
        return f"fewer than {k} responses"
    return "hidden so that a smaller group's answers can't be worked out"


def not_compared_because(reason: ComparisonReason | None, k: int) -> str:
    """Why a change since the previous round is not shown, in words."""
    if reason == "complement":
        return "not comparable: last round's group was suppressed"
    if reason == "answers":
        return f"last round fewer than {k} answers"
    return f"last round fewer than {k}"


# --- the service ----------------------------------------------------------------------------


class ReportService:
    """Round reports within one database; every query is scoped to the actor's tenant."""

    def __init__(
        self, db: Database, *, min_group: int = DEFAULT_MIN_GROUP, keys: ResponseKeys | None = None
    ) -> None:
        if min_group < 2:
            raise ValueError("min_group must be at least 2: a group of one names its member")
        self._db = db
        self._k = min_group
        self._keys = keys

    def report(self, actor: Actor, args: str) -> RoundReport:
        """Parse `[round] [scope]`, check the actor may see it, and build the report."""
        tenant_id, person_id = _linked(actor)
        if not actor.has_any(REPORT_ROLES):
            raise authorisation.refusal(REPORT_ENTRY)
        with self._db.session() as s:
            tenant = s.get(Tenant, tenant_id)
            if tenant is None:
                raise NotFound("Your local authority is not in the directory.")
            directory = _Directory.load(s, tenant)
            round_text, scope_text = _split_args(args, _template_ids(s, tenant_id))
            survey = _find_round(s, directory, round_text)
            scope = _resolve_scope(s, directory, actor, scope_text)
            _check_may_see(s, directory, actor, scope)
            current = _RoundData.load(s, tenant_id, survey, directory)
            previous_round = _previous_round(s, tenant_id, survey)
            previous = (
                _RoundData.load(s, tenant_id, previous_round, directory)
                if previous_round is not None
                else None
            )
            own, own_note = self._own(s, directory, survey, current.template, person_id, scope)
        built = _build(directory, current, previous, scope, self._k, own, own_note)
        if not actor.has_any(SUGGESTING_ROLES):
            return built
        offer = tuple(replace(f, can_offer_support=True) for f in built.flags)
        return replace(built, flags=offer)

    def _own(
        self,
        s: Session,
        directory: _Directory,
        survey: SurveyRound,
        template: Template,
        person_id: int,
        scope: ReportScope,
    ) -> tuple[tuple[OwnResponse, ...], str | None]:
        invitations = s.exec(
            select(SurveyInvitation).where(
                SurveyInvitation.tenant_id == directory.tenant_id,
                SurveyInvitation.round_id == survey.id,
                SurveyInvitation.person_id == person_id,
            )
        ).all()
        invitations = [
            i for i in invitations if _touches(scope, directory.place(i.subject_kind, i.subject_id))
        ]
        if not invitations:
            return (), None
        if survey.anonymous and self._keys is None:
            return (), (
                "Your own answers can't be shown: this round is anonymous and the bot has no "
                "anonymity key (SLIS_ANONYMITY_PEPPER) to find them with."
            )
        found: list[OwnResponse] = []
        for invitation in sorted(invitations, key=lambda i: (i.subject_kind, i.subject_id)):
            response_id = (
                find_response(s, survey, invitation, self._keys)
                if self._keys is not None
                else _named_response(s, invitation)
            )
            if response_id is None:
                continue
            answers, comments = _answers_of(s, directory.tenant_id, response_id)
            found.append(
                OwnResponse(
                    directory.subject_name(invitation.subject_kind, invitation.subject_id),
                    _own_answers(template, answers, comments),
                )
            )
        if not found:
            return (), "You have not sent your answers to this round."
        return tuple(found), None


# --- the directory as reports need it --------------------------------------------------------


@dataclass(frozen=True)
class _Place:
    """Where a response or invitation counts: one partnership (or none) and one quadrant (or
    none), so that groups nest; and every group its subject belongs to (`near`), for which
    reports may show the asker their own answers."""

    partnership: int | None
    quadrant: int | None
    near: frozenset[GroupKey]


@dataclass
class _Directory:
    tenant_id: int
    tenant_name: str
    zone: str
    quadrants: dict[int, str]
    partnerships: dict[int, tuple[str, int | None]]  # id -> (name, quadrant id)
    school_partnerships: dict[int, frozenset[int]]
    schools: dict[int, tuple[str, int | None]]  # id -> (name, quadrant id)
    _places: dict[tuple[str, int], _Place] = field(default_factory=dict)

    @classmethod
    def load(cls, s: Session, tenant: Tenant) -> _Directory:
        assert tenant.id is not None
        t = tenant.id
        quadrants = {
            q.id: q.name for q in s.exec(select(Quadrant).where(Quadrant.tenant_id == t)) if q.id
        }
        partnerships = {
            p.id: (p.name, p.quadrant_id)
            for p in s.exec(select(Partnership).where(Partnership.tenant_id == t))
            if p.id is not None
        }
        members: dict[int, set[int]] = {}
        for school_id, partnership_id in s.exec(
            select(PartnershipMembership.school_id, PartnershipMembership.partnership_id).where(
                PartnershipMembership.tenant_id == t
            )
        ):
            members.setdefault(school_id, set()).add(partnership_id)
        schools = {
            row[0]: (row[1], row[2])
            for row in s.exec(
                select(School.id, School.name, School.quadrant_id).where(School.tenant_id == t)
            )
            if row[0] is not None
        }
        return cls(
            t,
            tenant.name,
            tenant.timezone,
            quadrants,
            partnerships,
            {school: frozenset(ps) for school, ps in members.items()},
            schools,
        )

    def place(self, kind: str, subject_id: int) -> _Place:
        """The partnerships and quadrants a subject (school, partnership, quadrant) lies in."""
        key = (kind, subject_id)
        cached = self._places.get(key)
        if cached is not None:
            return cached
        if kind == "partnership":
            quadrant = self.partnership_quadrant(subject_id)
            place = _Place(subject_id, quadrant, _near({subject_id}, {quadrant}))
        elif kind == "school":
            ps = self.school_partnerships.get(subject_id, frozenset())
            own_quadrant = self.schools.get(subject_id, ("", None))[1]
            # The first partnership by id, as audience._school_group files it when anonymous;
            # the quadrant is the partnership's, so that partnerships nest in quadrants.
            first = min(ps) if ps else None
            quadrant = own_quadrant if first is None else self.partnership_quadrant(first)
            place = _Place(
                first,
                quadrant,
                _near(ps, {own_quadrant, quadrant, *(self.partnership_quadrant(p) for p in ps)}),
            )
        elif kind == "quadrant":
            place = _Place(None, subject_id, _near(set(), {subject_id}))
        else:
            place = _Place(None, None, frozenset())
        self._places[key] = place
        return place

    def partnership_quadrant(self, partnership_id: int) -> int | None:
        return self.partnerships.get(partnership_id, ("", None))[1]

    def quadrant_name(self, quadrant_id: int) -> str:
        return self.quadrants.get(quadrant_id, f"quadrant {quadrant_id}")

    def subject_name(self, kind: str, subject_id: int) -> str:
        if kind == "school":
            return self.schools.get(subject_id, ("your school", None))[0]
        if kind == "partnership":
            return self.partnerships.get(subject_id, ("your partnership", None))[0]
        return self.quadrants.get(subject_id, "your quadrant")

    def partnership_name(self, partnership_id: int) -> str:
        return self.partnerships.get(partnership_id, (f"partnership {partnership_id}", None))[0]


def _near(partnerships: Iterable[int], quadrants: Iterable[int | None]) -> frozenset[GroupKey]:
    keys: set[GroupKey] = {("partnership", p) for p in partnerships}
    keys |= {("quadrant", q) for q in quadrants if q is not None}
    return frozenset(keys)


# --- a round's responses ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Response:
    place: _Place
    answers: Mapping[str, Any]
    comments: Mapping[str, str]


@dataclass(frozen=True)
class _RoundData:
    info: RoundInfo
    template: Template
    responses: tuple[_Response, ...]
    invited: tuple[_Place, ...]
    # Schools invited to answer for themselves that are in more than one partnership.
    shared_schools: tuple[int, ...] = ()

    @classmethod
    def load(cls, s: Session, tenant_id: int, survey: SurveyRound, d: _Directory) -> _RoundData:
        assert survey.id is not None
        template = Template.from_snapshot(survey.template_snapshot)
        subjects: dict[uuid.UUID, _Place] = {
            row[0]: d.place(row[1], row[2])
            for row in s.exec(
                select(
                    col(SurveyResponse.id),
                    SurveyResponse.subject_kind,
                    SurveyResponse.subject_id,
                ).where(SurveyResponse.tenant_id == tenant_id, SurveyResponse.round_id == survey.id)
            )
        }
        answers: dict[uuid.UUID, dict[str, Any]] = {r: {} for r in subjects}
        comments: dict[uuid.UUID, dict[str, str]] = {r: {} for r in subjects}
        rows = s.exec(
            select(
                col(SurveyAnswer.response_id),
                SurveyAnswer.question_id,
                col(SurveyAnswer.value),
                col(SurveyAnswer.comment),
            )
            .join(SurveyResponse, col(SurveyResponse.id) == col(SurveyAnswer.response_id))
            .where(
                SurveyResponse.tenant_id == tenant_id,
                SurveyResponse.round_id == survey.id,
                SurveyAnswer.tenant_id == tenant_id,
            )
        )
        for response_id, question_id, value, comment in rows:
            if response_id not in answers:
                continue
            if value is not None:
                answers[response_id][question_id] = value
            if comment is not None and comment.strip():
                comments[response_id][question_id] = comment.strip()
        invitations = s.exec(
            select(
                SurveyInvitation.response_subject_kind, SurveyInvitation.response_subject_id
            ).where(
                SurveyInvitation.tenant_id == tenant_id,
                SurveyInvitation.round_id == survey.id,
            )
        ).all()
        invited = tuple(d.place(kind, subject_id) for kind, subject_id in invitations)
        shared = sorted(
            {
                subject_id
                for kind, subject_id in invitations
                if kind == "school" and len(d.school_partnerships.get(subject_id, ())) > 1
            }
        )
        # Keyed by random ids, so the order of this tuple says nothing of when anyone answered;
        # nothing shown depends on it (texts are sorted).
        responses = tuple(_Response(subjects[r], answers[r], comments[r]) for r in subjects)
        return cls(_info(survey, template, d.zone), template, responses, invited, tuple(shared))


def _info(survey: SurveyRound, template: Template, zone: str) -> RoundInfo:
    assert survey.id is not None
    return RoundInfo(
        id=survey.id,
        title=survey.title,
        template_id=survey.template_id,
        template_title=template.title,
        opens_at=aware(survey.opens_at),
        closes_at=aware(survey.closes_at),
        status=survey.status,
        anonymous=survey.anonymous,
        zone=zone,
    )


# --- building the report ---------------------------------------------------------------------


def _in_group(key: GroupKey) -> Callable[[_Place], bool]:
    kind, group_id = key
    if kind == "county":
        return lambda place: True
    if kind == "quadrant":
        return lambda place: place.quadrant == group_id
    return lambda place: place.partnership == group_id


def _touches(scope: ReportScope, place: _Place) -> bool:
    """Whether a subject belongs to the scope in any way (a school in two partnerships
    belongs to both, though it counts in the first): whose own answers a report may show."""
    return scope.kind == "county" or (scope.kind, scope.id) in place.near


# --- one suppression decision per round --------------------------------------------------------


@dataclass(frozen=True)
class Suppression:
    """The groups every report of one round hides, and why; see the module's docstring."""

    k: int
    sizes: Mapping[GroupKey, int]  # responses per group (those with none are absent)
    hidden: Mapping[GroupKey, SuppressedReason]

    def reason(self, key: GroupKey) -> SuppressedReason | None:
        """Why the group is hidden, or None when it is shown."""
        found = self.hidden.get(key)
        if found is None and self.sizes.get(key, 0) < self.k:
            return "small"  # a group with no response at all
        return found


def suppression(responses: Iterable[_Response], d: _Directory, k: int) -> Suppression:
    """The round's suppressed groups over county ⊃ quadrants ⊃ partnerships: a pure function
    of the round's responses and the directory, the same whoever asks and whatever the scope.

    Groups under k are "small". Then, for each shown parent and each kind of child set, while
    the parent's responses outside every shown child are 1 to k − 1, the smallest shown child
    (ties by name) is hidden as "complement"; over every parent again until nothing changes."""
    sizes: Counter[GroupKey] = Counter()
    for response in responses:
        sizes[COUNTY] += 1
        if response.place.quadrant is not None:
            sizes[("quadrant", response.place.quadrant)] += 1
        if response.place.partnership is not None:
            sizes[("partnership", response.place.partnership)] += 1
    quadrant_ids = set(d.quadrants) | {i for kind, i in sizes if kind == "quadrant" and i}
    partnership_ids = set(d.partnerships) | {i for kind, i in sizes if kind == "partnership" and i}
    quadrants: list[GroupKey] = [("quadrant", q) for q in sorted(quadrant_ids)]
    partnerships: list[GroupKey] = [("partnership", p) for p in sorted(partnership_ids)]
    parent: dict[GroupKey, GroupKey] = {}
    for key in partnerships:
        assert key[1] is not None
        quadrant = d.partnership_quadrant(key[1])
        parent[key] = COUNTY if quadrant is None else ("quadrant", quadrant)

    def name(key: GroupKey) -> str:
        assert key[1] is not None
        if key[0] == "quadrant":
            return d.quadrant_name(key[1])
        return d.partnership_name(key[1])

    hidden: dict[GroupKey, SuppressedReason] = {
        key: "small" for key in (COUNTY, *quadrants, *partnerships) if sizes[key] < k
    }

    def child_sets(of: GroupKey) -> list[Callable[[], list[GroupKey]]]:
        """Each kind of child set of a parent, as a function: which are shown changes."""
        if of != COUNTY:
            return [lambda: [p for p in partnerships if parent[p] == of]]

        def largest() -> list[GroupKey]:
            shown = {q for q in quadrants if q not in hidden}
            return [*shown, *(p for p in partnerships if parent[p] not in shown)]

        return [lambda: quadrants, lambda: partnerships, largest]

    changed = True
    while changed:
        changed = False
        for of in (COUNTY, *quadrants):
            for children in child_sets(of):
                while of not in hidden:
                    shown = [c for c in children() if c not in hidden]
                    outside = sizes[of] - sum(sizes[c] for c in shown)
                    if outside == 0 or outside >= k or not shown:
                        break
                    smallest = min(shown, key=lambda c: (sizes[c], name(c).casefold(), c[1] or 0))
                    hidden[smallest] = "complement"
                    changed = True
    return Suppression(k, {key: n for key, n in sizes.items() if n}, hidden)


# --- building the report ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Before:
    """A group's responses in the previous round, and whether that round showed the group."""

    round_id: int
    template: Template
    responses: Sequence[_Response]
    reason: SuppressedReason | None


def _build(
    d: _Directory,
    current: _RoundData,
    previous: _RoundData | None,
    scope: ReportScope,
    k: int,
    own: tuple[OwnResponse, ...],
    own_note: str | None,
) -> RoundReport:
    now_hidden = suppression(current.responses, d, k)
    then_hidden = suppression(previous.responses, d, k) if previous is not None else None

    def group(key: GroupKey, name: str, *, with_text: bool) -> GroupResult:
        inside = _in_group(key)
        before = None
        if previous is not None and then_hidden is not None:
            before = _Before(
                previous.info.id,
                previous.template,
                [r for r in previous.responses if inside(r.place)],
                then_hidden.reason(key),
            )
        return _group(
            key,
            name,
            current.template,
            [r for r in current.responses if inside(r.place)],
            sum(1 for p in current.invited if inside(p)),
            before,
            reason=now_hidden.reason(key),
            k=k,
            with_text=with_text,
        )

    overall = group((scope.kind, scope.id), scope.name, with_text=True)
    rows: list[GroupResult] = []
    if scope.kind != "partnership":
        seen = {
            place.partnership
            for place in (*(r.place for r in current.responses), *current.invited)
            if place.partnership is not None
        }
        row_ids = [
            p
            for p in seen
            if p in d.partnerships and (scope.kind == "county" or d.partnerships[p][1] == scope.id)
        ]
        row_ids.sort(key=lambda p: (d.partnership_name(p).casefold(), p))
        rows = [group(("partnership", p), d.partnership_name(p), with_text=False) for p in row_ids]
    flagged = rows if scope.kind != "partnership" else [overall]
    flags = _flags(flagged, current, previous, then_hidden, k)
    return RoundReport(
        round=current.info,
        previous_round=previous.info if previous is not None else None,
        scope=scope,
        min_group=k,
        overall=overall,
        partnerships=tuple(rows),
        flags=tuple(flags),
        template=current.template,
        own=own,
        own_note=own_note,
        counting_note=_counting_note(d, current, scope),
    )


SHARED_LISTED = 3


def _counting_note(d: _Directory, current: _RoundData, scope: ReportScope) -> str | None:
    """Which partnership each school in two or more (that the report covers) counts in."""
    shared = [
        school for school in current.shared_schools if _touches(scope, d.place("school", school))
    ]
    if not shared:
        return None
    listed = []
    for school in shared[:SHARED_LISTED]:
        first = d.place("school", school).partnership
        assert first is not None
        others = sorted(
            (p for p in d.school_partnerships[school] if p != first),
            key=lambda p: (d.partnership_name(p).casefold(), p),
        )
        listed.append(
            f"{d.subject_name('school', school)} counts in {d.partnership_name(first)}"
            f" (not {' or '.join(d.partnership_name(p) for p in others)})"
        )
    more = len(shared) - SHARED_LISTED
    return (
        "Each answer counts in one partnership only, so none is counted twice: a school in "
        "two partnerships counts in the first (the one entered in the directory first). "
        + "; ".join(listed)
        + (f"; and {more} more school{'s' if more != 1 else ''}" if more > 0 else "")
        + "."
    )


def _group(
    key: GroupKey,
    name: str,
    template: Template,
    responses: Sequence[_Response],
    invited: int,
    before: _Before | None,
    *,
    reason: SuppressedReason | None,
    k: int,
    with_text: bool,
) -> GroupResult:
    suppressed = reason is not None
    # The previous round's (n, sum) per scale question; None when that round hid the group.
    previous_sums: dict[str, tuple[int, int]] | None = None
    if before is not None and before.reason is None:
        previous_sums = _scale_sums(before.template, before.responses)
    results: list[QuestionResult] = []
    for question in template.questions:
        if suppressed:
            results.append(_suppressed(template, question))
            continue
        answered = [r for r in responses if question.id in r.answers]
        comments = _sorted_texts(
            r.comments[question.id] for r in responses if question.id in r.comments
        )
        if isinstance(question, TextQuestion):
            texts = _sorted_texts(str(r.answers[question.id]) for r in answered)
            results.append(
                QuestionResult(
                    question.id,
                    question.type,
                    question.text,
                    _label(template, question),
                    suppressed=False,
                    n=len(answered),
                    answers=texts if with_text else (),
                    comments=comments if with_text else (),
                )
            )
            continue
        if len(answered) < k:
            results.append(_suppressed(template, question, comments if with_text else ()))
            continue
        values = [r.answers[question.id] for r in answered]
        result = _aggregate(template, question, values)
        if isinstance(question, ScaleQuestion) and before is not None:
            if previous_sums is None:
                comparison = Comparison(before.round_id, suppressed=True, reason=before.reason)
                result = replace(result, previous=comparison)
            elif question.id in previous_sums:  # else the question is new since then
                previous = previous_sums[question.id]
                result = _with_previous(result, values, previous, before.round_id, k)
        results.append(replace(result, comments=comments if with_text else ()))
    return GroupResult(
        kind=key[0],
        id=key[1],
        name=name,
        invited=invited,
        suppressed_reason=reason,
        responses=None if suppressed else len(responses),
        questions=tuple(results),
    )


def _suppressed(
    template: Template, question: Question, comments: tuple[str, ...] = ()
) -> QuestionResult:
    label = _label(template, question)
    return QuestionResult(question.id, question.type, question.text, label, True, comments=comments)


def _label(template: Template, question: Question) -> str:
    item = getattr(question, "item", None)
    if isinstance(item, str):
        try:
            return template.item_label(item)
        except KeyError:
            pass
    return question.text


def _aggregate(template: Template, question: Question, values: list[Any]) -> QuestionResult:
    base = QuestionResult(
        question.id, question.type, question.text, _label(template, question), False, len(values)
    )
    if isinstance(question, ScaleQuestion):
        ratings = [int(v) for v in values]
        points = Counter(ratings)
        labels = question.labels or tuple(str(p) for p in question.points)
        counts = tuple(
            Count(str(p), label, points[p])
            for p, label in zip(question.points, labels, strict=True)
        )
        return replace(base, mean=two_dp(Fraction(sum(ratings), len(ratings))), counts=counts)
    if isinstance(question, RagQuestion):
        tally = Counter(str(v) for v in values)
        return replace(base, counts=tuple(Count(c, c.capitalize(), tally[c]) for c in RAG))
    if isinstance(question, SingleQuestion):
        tally = Counter(str(v) for v in values)
        return replace(
            base, counts=tuple(Count(c.id, c.label, tally[c.id]) for c in question.choices)
        )
    if isinstance(question, MultipleQuestion):
        tally = Counter(str(choice) for v in values for choice in v)
        return replace(
            base, counts=tuple(Count(c.id, c.label, tally[c.id]) for c in question.choices)
        )
    if isinstance(question, RankingQuestion):
        ranking = _ranking(template, question, values)
        return replace(base, ranking=ranking, diamond=_shape(ranking, question.tiers))
    return base


def _ranking(
    template: Template, question: RankingQuestion, values: list[Any]
) -> tuple[RankedItem, ...]:
    """Each item's mean tier (1 = top) over the answers, best first; ties in template order."""
    totals = dict.fromkeys(question.items, 0)
    for tiers in values:
        for tier, items in enumerate(tiers, start=1):
            for item in items:
                if item in totals:
                    totals[item] += tier
    n = len(values)
    order = sorted(question.items, key=lambda i: (Fraction(totals[i], n), question.items.index(i)))
    return tuple(
        RankedItem(i, _item_label(template, i), two_dp(Fraction(totals[i], n))) for i in order
    )


def _item_label(template: Template, item_id: str) -> str:
    try:
        return template.item_label(item_id)
    except KeyError:
        return item_id


def _shape(
    ranking: tuple[RankedItem, ...], tiers: tuple[int, ...]
) -> tuple[tuple[RankedItem, ...], ...]:
    placed: list[tuple[RankedItem, ...]] = []
    start = 0
    for size in tiers:
        placed.append(ranking[start : start + size])
        start += size
    return tuple(placed)


def _scale_sums(template: Template, responses: Sequence[_Response]) -> dict[str, tuple[int, int]]:
    """(n, sum) of every scale question's ratings."""
    sums: dict[str, tuple[int, int]] = {}
    for question in template.questions:
        if isinstance(question, ScaleQuestion):
            ratings = [int(r.answers[question.id]) for r in responses if question.id in r.answers]
            sums[question.id] = (len(ratings), sum(ratings))
    return sums


def _with_previous(
    result: QuestionResult,
    values: list[Any],
    before: tuple[int, int],
    previous_id: int,
    k: int,
) -> QuestionResult:
    if before[0] < k:
        comparison = Comparison(previous_id, suppressed=True, reason="answers")
    else:
        now = Fraction(sum(int(v) for v in values), len(values))
        then = Fraction(before[1], before[0])
        comparison = Comparison(previous_id, False, two_dp(then), two_dp(now - then))
    return replace(result, previous=comparison)


def _flags(
    groups: Sequence[GroupResult],
    current: _RoundData,
    previous: _RoundData | None,
    then_hidden: Suppression | None,
    k: int,
) -> list[Flag]:
    """Partnerships whose mean on a scale question fell by 1.0 or more since the previous
    round, or with a red RAG answer; never for a suppressed group, and a fall only where the
    previous round showed the group and k or more answered the question both times."""
    flags: list[Flag] = []
    for group in groups:
        if group.suppressed or group.id is None:
            continue
        key: GroupKey = ("partnership", group.id)
        inside = _in_group(key)
        now = _scale_sums(current.template, [r for r in current.responses if inside(r.place)])
        then: dict[str, tuple[int, int]] = {}
        if previous is not None and then_hidden is not None and then_hidden.reason(key) is None:
            then = _scale_sums(
                previous.template, [r for r in previous.responses if inside(r.place)]
            )
        for result in group.questions:
            if result.suppressed:
                continue
            if result.kind == "scale" and result.question_id in then:
                (n_now, s_now), (n_then, s_then) = now[result.question_id], then[result.question_id]
                if n_now >= k and n_then >= k:
                    fall = Fraction(s_then, n_then) - Fraction(s_now, n_now)
                    if fall >= FALL_FLAG:
                        flags.append(
                            Flag(
                                group.id,
                                group.name,
                                f"{result.label}: the mean fell from "
                                f"{two_dp(Fraction(s_then, n_then)):.2f} to "
                                f"{two_dp(Fraction(s_now, n_now)):.2f} since round "
                                f"#{previous.info.id if previous else ''}",
                                result.question_id,
                            )
                        )
            if result.kind == "rag":
                reds = next((c.count for c in result.counts if c.key == "red"), 0)
                if reds:
                    flags.append(
                        Flag(
                            group.id,
                            group.name,
                            f"{reds} red answer{'s' if reds != 1 else ''} to “{result.text}”",
                            result.question_id,
                        )
                    )
    return flags


def _sorted_texts(texts: Iterable[str]) -> tuple[str, ...]:
    """Free text in alphabetical order, never the order it came in."""
    cleaned = (t.strip() for t in texts)
    return tuple(sorted((t for t in cleaned if t), key=lambda t: (t.casefold(), t)))


def two_dp(value: Fraction) -> float:
    """A number to 2 decimal places, halves away from zero (2.125 → 2.13)."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return float(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


# --- own answers -----------------------------------------------------------------------------


def _named_response(s: Session, invitation: SurveyInvitation) -> uuid.UUID | None:
    row = s.exec(
        select(col(SurveyResponse.id)).where(
            SurveyResponse.tenant_id == invitation.tenant_id,
            SurveyResponse.round_id == invitation.round_id,
            SurveyResponse.respondent_person_id == invitation.person_id,
            SurveyResponse.subject_kind == invitation.response_subject_kind,
            SurveyResponse.subject_id == invitation.response_subject_id,
        )
    ).first()
    return row


def _answers_of(
    s: Session, tenant_id: int, response_id: uuid.UUID
) -> tuple[dict[str, Any], dict[str, str]]:
    answers: dict[str, Any] = {}
    comments: dict[str, str] = {}
    for row in s.exec(
        select(SurveyAnswer).where(
            SurveyAnswer.response_id == response_id, SurveyAnswer.tenant_id == tenant_id
        )
    ):
        if row.value is not None:
            answers[row.question_id] = row.value
        if row.comment:
            comments[row.question_id] = row.comment
    return answers, comments


def _own_answers(
    template: Template, answers: Mapping[str, Any], comments: Mapping[str, str]
) -> tuple[OwnAnswer, ...]:
    shown: list[OwnAnswer] = []
    for question in template.questions:
        value = answers.get(question.id)
        comment = comments.get(question.id)
        if value is None and comment is None:
            continue
        text = "—" if value is None else _answer_text(template, question, value)
        shown.append(OwnAnswer(_label(template, question), text, comment))
    return tuple(shown)


def _answer_text(template: Template, question: Question, value: Any) -> str:
    if isinstance(question, ScaleQuestion):
        labels = question.labels
        if labels is not None and isinstance(value, int) and value in question.points:
            return f"{value} ({labels[value - question.min]})"
        return str(value)
    if isinstance(question, RagQuestion):
        return str(value).capitalize()
    if isinstance(question, SingleQuestion | MultipleQuestion):
        names = {c.id: c.label for c in question.choices}
        picked = value if isinstance(value, list) else [value]
        return ", ".join(names.get(str(v), str(v)) for v in picked)
    if isinstance(question, RankingQuestion) and isinstance(value, list):
        return " · ".join(
            f"{n}: " + ", ".join(_item_label(template, str(i)) for i in tier)
            for n, tier in enumerate(value, start=1)
        )
    return str(value)


# --- parsing the request ---------------------------------------------------------------------


def _linked(actor: Actor) -> tuple[int, int]:
    if actor.tenant_id is None or actor.person_id is None:
        raise UserError("I need to know who you are in the directory first; try `/slis whoami`.")
    return actor.tenant_id, actor.person_id


def _template_ids(s: Session, tenant_id: int) -> frozenset[str]:
    return frozenset(
        s.exec(select(SurveyRound.template_id).where(SurveyRound.tenant_id == tenant_id).distinct())
    )


def _split_args(args: str, template_ids: frozenset[str]) -> tuple[str | None, str]:
    """(the round's words, the scope's words); a round is `#12`, `12`, a word for a template
    (`healthcheck`, `maturity`, `check-in`) or a template id."""
    text = " ".join(args.split())
    hashed = _HASH_ROUND.search(text)
    if hashed is not None:
        rest = (text[: hashed.start()] + " " + text[hashed.end() :]).strip()
        return "#" + hashed.group(1), " ".join(rest.split())
    first, _, rest = text.partition(" ")
    if _ROUND_ID.fullmatch(first):
        return first, rest
    lowered = text.casefold()
    for word in sorted(TEMPLATE_WORDS, key=len, reverse=True):
        if lowered == word or lowered.startswith(word + " "):
            return word, text[len(word) :].strip()
    if first.casefold() in template_ids:
        return first.casefold(), rest
    return None, text


def _opened(tenant_id: int) -> SelectOfScalar[SurveyRound]:
    return select(SurveyRound).where(
        SurveyRound.tenant_id == tenant_id, col(SurveyRound.status).in_(OPENED)
    )


def _latest_first(query: SelectOfScalar[SurveyRound]) -> SelectOfScalar[SurveyRound]:
    return query.order_by(col(SurveyRound.opens_at).desc(), col(SurveyRound.id).desc())


def _find_round(s: Session, d: _Directory, words: str | None) -> SurveyRound:
    query = _opened(d.tenant_id)
    if words is None:
        found = s.exec(_latest_first(query)).first()
        if found is None:
            raise NotFound("No healthcheck round has opened here yet.")
        return found
    matched = _ROUND_ID.fullmatch(words)
    if matched is not None:
        found = s.exec(query.where(SurveyRound.id == int(matched.group(1)))).first()
        if found is None:
            raise NotFound(
                f"There is no round #{matched.group(1)} that has opened here.",
                hint=_recent_hint(s, d),
            )
        return found
    template_id = TEMPLATE_WORDS.get(words, words)
    found = s.exec(_latest_first(query.where(SurveyRound.template_id == template_id))).first()
    if found is None:
        raise NotFound(f"No round of “{words}” has opened here yet.", hint=_recent_hint(s, d))
    return found


def _recent_hint(s: Session, d: _Directory) -> str:
    rounds = s.exec(_latest_first(_opened(d.tenant_id)).limit(RECENT_SHOWN)).all()
    if not rounds:
        return "No healthcheck round has opened here yet."
    zone = ZoneInfo(d.zone)
    listed = "; ".join(
        f"#{r.id} {r.title} ({date_range(aware(r.opens_at), aware(r.closes_at), zone)})"
        for r in rounds
    )
    return f"Recent rounds: {listed}."


def _previous_round(s: Session, tenant_id: int, survey: SurveyRound) -> SurveyRound | None:
    """The latest opened round of the same template that opened before this one."""
    query = _opened(tenant_id).where(
        SurveyRound.template_id == survey.template_id,
        SurveyRound.opens_at < survey.opens_at,
        SurveyRound.id != survey.id,
    )
    found: SurveyRound | None = s.exec(_latest_first(query)).first()
    return found


def _resolve_scope(s: Session, d: _Directory, actor: Actor, words: str) -> ReportScope:
    words = words.strip()
    if not words:
        return _default_scope(s, d, actor)
    lowered = words.casefold()
    if lowered in COUNTY_WORDS or lowered == d.tenant_name.casefold():
        return ReportScope("county", None, d.tenant_name)
    name = re.sub(r"\s+quadrant$", "", words, flags=re.IGNORECASE) or words
    quadrants, partnerships = _by_name(d, name)
    found = [ReportScope("quadrant", q, d.quadrants[q]) for q in quadrants] + [
        ReportScope("partnership", p, d.partnership_name(p)) for p in partnerships
    ]
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFound(
            f"No quadrant or partnership called “{words}”.",
            hint="e.g. `/slis healthcheck report county`, `… North East` or "
            "`… Kingfisher Cluster`.",
        )
    listed = ", ".join(
        f"{f.name} ({'quadrant' if f.kind == 'quadrant' else 'partnership'})" for f in found[:8]
    )
    more = f" and {len(found) - 8} more" if len(found) > 8 else ""
    raise UserError(f"“{words}” could be {listed}{more}. Which one?")


def _by_name(d: _Directory, name: str) -> tuple[list[int], list[int]]:
    """Quadrants and partnerships called `name` (case-insensitive), else containing it."""
    lowered = name.strip().casefold()
    quadrants = [q for q, n in d.quadrants.items() if n.casefold() == lowered]
    partnerships = [p for p, (n, _) in d.partnerships.items() if n.casefold() == lowered]
    if quadrants or partnerships:
        return sorted(quadrants), sorted(partnerships)
    quadrants = [q for q, n in d.quadrants.items() if lowered in n.casefold()]
    partnerships = [p for p, (n, _) in d.partnerships.items() if lowered in n.casefold()]
    return (
        sorted(quadrants, key=lambda q: d.quadrants[q].casefold()),
        sorted(partnerships, key=lambda p: d.partnership_name(p).casefold()),
    )


# --- who may see what --------------------------------------------------------------------------


def _chaired(actor: Actor) -> list[int]:
    return sorted(
        {
            g.scope_id
            for g in actor.grants
            if g.role is Role.QUADRANT_CHAIR and g.scope is ScopeKind.QUADRANT and g.scope_id
        }
    )


def _led(actor: Actor) -> list[int]:
    return sorted(
        {
            g.scope_id
            for g in actor.grants
            if g.role is Role.PARTNERSHIP_LEAD and g.scope is ScopeKind.PARTNERSHIP and g.scope_id
        }
    )


def _headed_partnerships(d: _Directory, actor: Actor) -> list[int]:
    schools = {
        g.scope_id
        for g in actor.grants
        if g.role is Role.HEAD and g.scope is ScopeKind.SCHOOL and g.scope_id
    }
    found: set[int] = set()
    for school in schools:
        found |= d.school_partnerships.get(school, frozenset())
    return sorted(found)


def _default_scope(s: Session, d: _Directory, actor: Actor) -> ReportScope:
    if actor.has_any(COUNTY_ROLES):
        return ReportScope("county", None, d.tenant_name)
    chaired = [q for q in _chaired(actor) if q in d.quadrants]
    if len(chaired) == 1:
        return ReportScope("quadrant", chaired[0], d.quadrants[chaired[0]])
    if chaired:
        names = ", ".join(d.quadrants[q] for q in chaired)
        raise UserError(
            f"You chair {names}. Which quadrant's report?",
            hint=f"e.g. `/slis healthcheck report {d.quadrants[chaired[0]]}`.",
        )
    for partnerships, what in ((_led(actor), "lead"), (_headed_partnerships(d, actor), "are in")):
        partnerships = [p for p in partnerships if p in d.partnerships]
        if len(partnerships) == 1:
            return ReportScope("partnership", partnerships[0], d.partnership_name(partnerships[0]))
        if partnerships:
            names = ", ".join(d.partnership_name(p) for p in partnerships)
            raise UserError(
                f"You {what} {names}. Which partnership's report?",
                hint=f"e.g. `/slis healthcheck report {d.partnership_name(partnerships[0])}`.",
            )
    if actor.has_any(frozenset({Role.HEAD})):
        raise UserError(
            "Your school is not in a partnership in the directory, so there is no partnership "
            "report for you.",
            hint="Ask your LA administrator to add it to its partnership.",
        )
    raise authorisation.refusal(REPORT_ENTRY)


def _check_may_see(s: Session, d: _Directory, actor: Actor, scope: ReportScope) -> None:
    if actor.has_any(COUNTY_ROLES):
        return
    hint = "Ask without a scope for the report you may see: `/slis healthcheck report`."
    if scope.kind == "county":
        raise authorisation.refusal(REPORT_ENTRY, d.tenant_name, hint=hint)
    chaired = _chaired(actor)
    if scope.kind == "quadrant":
        if scope.id in chaired:
            return
        raise authorisation.refusal(REPORT_ENTRY, scope.name, hint=hint)
    assert scope.id is not None
    quadrant = d.partnerships.get(scope.id, ("", None))[1]
    if quadrant is not None and quadrant in chaired:
        return
    if scope.id in _led(actor) or scope.id in _headed_partnerships(d, actor):
        return
    raise authorisation.refusal(REPORT_ENTRY, scope.name, hint=hint)


# --- formatting ---------------------------------------------------------------------------------


def date_range(opens: datetime, closes: datetime, zone: ZoneInfo) -> str:
    """e.g. "2 Nov – 16 Nov 2026", or "14 Dec 2026 – 8 Jan 2027" across a year's end."""
    start, end = opens.astimezone(zone), closes.astimezone(zone)
    first = f"{start.day} {start:%b}" + (f" {start.year}" if start.year != end.year else "")
    return f"{first} – {end.day} {end:%b %Y}"
