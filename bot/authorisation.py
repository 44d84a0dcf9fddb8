"""Who may do what: one table of every command, button and form, read by the help text, the
App Home, the router, the button gate and the services' checks, so there is no second copy.

Each entry says what it does and who may: a tuple of allowances, each either a role with the
scope its grant must cover (the subject's school, partnership, quadrant, an alliance the request
is offered to or that holds it, the whole local authority, or anywhere), or a relation to the
subject that is not a role (the meeting's chair, an invitee, the reminder's owner...).

`may_try` is the role gate (could this actor ever do it?); `require` the scope check against a
`Subject` (the ids the scopes need); `refusal` the Forbidden a service raises when its own scope
facts say no. A refusal names roles and the thing the asker named, never another school's data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from bot.errors import Forbidden
from bot.types import Actor, Grant, Role, ScopeKind


class Scope(StrEnum):
    """What a role's grant must cover for the allowance to apply."""

    ANYWHERE = "anywhere"  # any grant of the role
    SCHOOL = "school"  # the subject's school
    PARTNERSHIP = "partnership"  # the subject's partnership (its heads: a member school's)
    QUADRANT = "quadrant"  # the subject's quadrant
    OFFERED = "offered"  # an alliance the request is offered to
    HOLDING = "holding"  # the alliance that holds the request
    COUNTY = "county"  # the whole local authority
    SHARED = "shared"  # a reminder to a role or a channel, not to one person


class Relation(StrEnum):
    """A tie to the subject that is not a role."""

    ANYONE = "anyone"  # even someone not in the directory
    LINKED = "linked"  # anyone in the directory
    OWNER = "owner"  # who set the reminder, owns the action
    LAUNCHER = "launcher"  # who launched the healthcheck round
    ADDRESSEE = "addressee"  # whom the healthcheck was sent to
    INVITEE = "invitee"  # invited to the meeting
    MEETING_CHAIR = "meeting_chair"  # the meeting's own chair
    NOTE_TAKER = "note_taker"  # named to take the meeting's notes


class Kind(StrEnum):
    """How an entry is reached."""

    COMMAND = "command"  # `/slis <words>`
    BUTTON = "button"  # a button's action id
    FORM = "form"  # a form's callback id


@dataclass(frozen=True)
class Allow:
    """One way to be allowed: a role over a scope, or a relation to the subject."""

    role: Role | None = None
    scope: Scope = Scope.ANYWHERE
    relation: Relation | None = None

    def words(self) -> str:
        if self.relation is not None:
            return _RELATION_WORDS[self.relation]
        assert self.role is not None
        return _PLURAL[self.role] + _SCOPE_WORDS[self.scope]


@dataclass(frozen=True)
class Entry:
    """One command, button or form: its key, what it does (after "may"), and who may."""

    kind: Kind
    key: str  # the command words, the action id, or the callback id
    does: str
    who: tuple[Allow, ...]

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(a.role for a in self.who if a.role is not None)

    @property
    def needs_link(self) -> bool:
        return not any(a.relation is Relation.ANYONE for a in self.who)


@dataclass(frozen=True)
class Subject:
    """The ids an entry's scopes and relations are checked against."""

    schools: frozenset[int] = frozenset()
    partnerships: frozenset[int] = frozenset()
    quadrants: frozenset[int] = frozenset()
    offered: frozenset[int] = frozenset()  # alliances it is open to
    holding: frozenset[int] = frozenset()  # the alliance that holds it
    shared: bool = False  # a reminder to a role or a channel
    people: Mapping[Relation, frozenset[int]] = field(default_factory=dict)

    @staticmethod
    def of(
        *,
        school: int | None = None,
        partnerships: Iterable[int] = (),
        quadrant: int | None = None,
        offered: Iterable[int] = (),
        holding: int | None = None,
        shared: bool = False,
        **people: Iterable[int | None],
    ) -> Subject:
        """A subject from single ids; keyword `people` name relations (owner=[7])."""
        return Subject(
            schools=frozenset(() if school is None else (school,)),
            partnerships=frozenset(partnerships),
            quadrants=frozenset(() if quadrant is None else (quadrant,)),
            offered=frozenset(offered),
            holding=frozenset(() if holding is None else (holding,)),
            shared=shared,
            people={
                Relation(k): frozenset(p for p in v if p is not None) for k, v in people.items()
            },
        )


_PLURAL: Mapping[Role, str] = MappingProxyType(
    {
        Role.HEAD: "headteachers",
        Role.STAFF: "school staff",
        Role.PARTNERSHIP_LEAD: "partnership leads",
        Role.QUADRANT_CHAIR: "quadrant chairs",
        Role.ALLIANCE_LEAD: "Teaching School Alliance leads",
        Role.BOARD_MEMBER: "Project Board members",
        Role.LA_OFFICER: "LA officers",
        Role.ASSOCIATION_REP: "heads' association representatives",
        Role.GOVERNOR: "governors",
        Role.ADMINISTRATOR: "administrators",
    }
)
_SCOPE_WORDS: Mapping[Scope, str] = MappingProxyType(
    {
        Scope.ANYWHERE: "",
        Scope.SCHOOL: " of the school",
        Scope.PARTNERSHIP: " of the partnership",
        Scope.QUADRANT: " for the quadrant",
        Scope.OFFERED: " of an alliance it is offered to",
        Scope.HOLDING: " of the alliance that holds it",
        Scope.COUNTY: " for the whole local authority",
        Scope.SHARED: " (for reminders to a role or a channel)",
    }
)
_RELATION_WORDS: Mapping[Relation, str] = MappingProxyType(
    {
        Relation.ANYONE: "anyone",
        Relation.LINKED: "anyone in the directory",
        Relation.OWNER: "its owner",
        Relation.LAUNCHER: "the person who launched it",
        Relation.ADDRESSEE: "those it was sent to",
        Relation.INVITEE: "those invited",
        Relation.MEETING_CHAIR: "the meeting's chair",
        Relation.NOTE_TAKER: "its note-taker",
    }
)
assert set(_PLURAL) == set(Role) and set(_SCOPE_WORDS) == set(Scope)
assert set(_RELATION_WORDS) == set(Relation)


def who_may(entry: Entry) -> str:
    """Who may use the entry, in words: "LA officers, administrators and quadrant chairs"."""
    # Roles of one scope read together: "headteachers and school staff of the school".
    groups: dict[Scope | Relation, list[str]] = {}
    for a in entry.who:
        if a.relation is not None:
            groups.setdefault(a.relation, []).append(_RELATION_WORDS[a.relation])
        else:
            assert a.role is not None
            groups.setdefault(a.scope, []).append(_PLURAL[a.role])
    parts = [
        _and(names) + (_SCOPE_WORDS[key] if isinstance(key, Scope) else "")
        for key, names in groups.items()
    ]
    return _join(parts, " or ")


def _and(parts: list[str]) -> str:
    return _join(parts, " and ")


def _join(parts: list[str], last: str) -> str:
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + last + parts[-1]


def refusal(entry: Entry, about: str | None = None, hint: str | None = None) -> Forbidden:
    """The refusal of `entry`, naming who may; `about`: the thing the asker named (a
    reference they typed), never another school's data."""
    what = entry.does if about is None else f"{entry.does} ({about})"
    return Forbidden(f"Only {who_may(entry)} may {what}.", hint=hint or _HINT)


_HINT = "If you should have that role, ask your LA administrator."


def may_try(actor: Actor, entry: Entry) -> bool:
    """Whether the actor could ever use the entry (the role gate of help, Home and router)."""
    for allow in entry.who:
        if allow.relation is Relation.ANYONE:
            return True
        if not actor.linked:
            continue
        if allow.relation is not None:
            return True
        if any(g.role is allow.role and _reaches(g, allow.scope) for g in actor.grants):
            return True
    return False


def allows(actor: Actor, entry: Entry, subject: Subject) -> bool:
    """Whether one of the entry's allowances covers the actor for `subject`."""
    for allow in entry.who:
        if allow.relation is Relation.ANYONE:
            return True
        if not actor.linked:
            continue
        if allow.relation is Relation.LINKED:
            return True
        if allow.relation is not None:
            if actor.person_id in subject.people.get(allow.relation, frozenset()):
                return True
            continue
        for g in actor.grants:
            if g.role is allow.role and _covers(g, allow.scope, subject):
                return True
    return False


def require(
    actor: Actor, entry: Entry, subject: Subject = Subject(), about: str | None = None
) -> None:
    """Forbidden, naming who may, unless an allowance covers the actor for `subject`."""
    if not allows(actor, entry, subject):
        raise refusal(entry, about)


def _reaches(grant: Grant, scope: Scope) -> bool:
    """Whether the grant could cover some subject of `scope` (COUNTY needs a county grant)."""
    return scope is not Scope.COUNTY or grant.scope is ScopeKind.COUNTY


def _covers(grant: Grant, scope: Scope, subject: Subject) -> bool:
    if scope is Scope.SHARED:
        return subject.shared
    if grant.scope is ScopeKind.COUNTY or scope is Scope.ANYWHERE:
        return True
    ids = grant.scope_id
    match scope:
        case Scope.SCHOOL:
            return grant.scope is ScopeKind.SCHOOL and ids in subject.schools
        case Scope.PARTNERSHIP:
            if grant.scope is ScopeKind.SCHOOL:
                return ids in subject.schools
            return grant.scope is ScopeKind.PARTNERSHIP and ids in subject.partnerships
        case Scope.QUADRANT:
            return grant.scope is ScopeKind.QUADRANT and ids in subject.quadrants
        case Scope.OFFERED:
            return grant.scope is ScopeKind.ALLIANCE and ids in subject.offered
        case Scope.HOLDING:
            return grant.scope is ScopeKind.ALLIANCE and ids in subject.holding
    return False


# --- the table ---------------------------------------------------------------------------------

R, S, W = Role, Scope, Relation
ANYONE = (Allow(relation=W.ANYONE),)
LINKED = (Allow(relation=W.LINKED),)
COUNTY_WIDE = (
    Allow(R.BOARD_MEMBER),
    Allow(R.LA_OFFICER),
    Allow(R.ADMINISTRATOR),
)
ASKERS = (Allow(R.HEAD, S.SCHOOL), Allow(R.STAFF, S.SCHOOL))
OWN_SCHOOL = (Allow(R.HEAD), Allow(R.STAFF))  # asking: for the school they work at
OFFERED = (Allow(R.ALLIANCE_LEAD, S.OFFERED),)
HOLDING = (Allow(R.ALLIANCE_LEAD, S.HOLDING),)
CHAIRS = (Allow(R.QUADRANT_CHAIR, S.QUADRANT), Allow(R.LA_OFFICER, S.QUADRANT))
SEE_ALL = (Allow(R.BOARD_MEMBER), Allow(R.ADMINISTRATOR))
ORGANISERS = CHAIRS
MANAGERS = (Allow(relation=W.MEETING_CHAIR), *ORGANISERS)
MEETING_SEERS = (Allow(relation=W.INVITEE), *MANAGERS, *SEE_ALL)
STATS = (Allow(R.QUADRANT_CHAIR), Allow(R.LA_OFFICER), *SEE_ALL)
REPORTS = (
    *COUNTY_WIDE,
    Allow(R.QUADRANT_CHAIR, S.QUADRANT),
    Allow(R.PARTNERSHIP_LEAD, S.PARTNERSHIP),
    Allow(R.HEAD, S.PARTNERSHIP),
)

SUPPORT = "slis.support."
MEETING = "slis.meeting."
C, B, F = Kind.COMMAND, Kind.BUTTON, Kind.FORM


def _e(kind: Kind, key: str, does: str, *who: Allow | tuple[Allow, ...]) -> Entry:
    flat: list[Allow] = []
    for w in who:
        flat.extend(w if isinstance(w, tuple) else (w,))
    return Entry(kind, key, does, tuple(dict.fromkeys(flat)))


ENTRIES: tuple[Entry, ...] = (
    # --- commands
    _e(C, "help", "see what they can ask", ANYONE),
    _e(C, "whoami", "see their roles", LINKED),
    _e(C, "school", "look up a school", LINKED),
    _e(C, "partnership", "look up a partnership", LINKED),
    _e(C, "quadrant", "look up a quadrant", LINKED),
    _e(C, "remind", "set a reminder", LINKED),
    _e(
        C,
        "remind others",
        "set reminders for other people, roles or channels",
        Allow(R.LA_OFFICER),
        Allow(R.ADMINISTRATOR),
        Allow(R.QUADRANT_CHAIR, S.QUADRANT),
    ),
    _e(
        C,
        "remind cancel",
        "cancel this reminder",
        Allow(relation=W.OWNER),
        Allow(R.LA_OFFICER, S.SHARED),
        Allow(R.ADMINISTRATOR, S.SHARED),
    ),
    _e(C, "reminders", "list their reminders", LINKED),
    _e(C, "healthcheck", "see the healthchecks they have to answer", LINKED),
    _e(C, "healthcheck launch", "launch a healthcheck round", COUNTY_WIDE),
    _e(
        C,
        "healthcheck status",
        "see a round's response rates",
        Allow(relation=W.LAUNCHER),
        COUNTY_WIDE,
    ),
    _e(C, "healthcheck report", "see this healthcheck report", REPORTS),
    _e(C, "support", "ask for support for their own school", OWN_SCHOOL),
    _e(C, "support list", "list the support requests they can see", LINKED),
    _e(
        C,
        "support list quadrant",
        "list a quadrant's support requests",
        Allow(R.QUADRANT_CHAIR),
        Allow(R.LA_OFFICER, S.QUADRANT),
    ),
    _e(C, "support list all", "list every support request", Allow(R.LA_OFFICER, S.COUNTY), SEE_ALL),
    _e(C, "support show", "see this support request", ASKERS, OFFERED, HOLDING, CHAIRS, SEE_ALL),
    _e(C, "support stats", "see the support stats", STATS),
    _e(C, "support ledger", "see the support ledger", STATS),
    _e(C, "meeting", "list the meetings they can see", LINKED),
    _e(C, "meeting new", "propose a meeting for this quadrant", ORGANISERS),
    _e(C, "meeting show", "see this meeting", MEETING_SEERS),
    _e(C, "meeting tally", "see this meeting's poll tally", MANAGERS),
    _e(C, "meeting agenda", "add to this meeting's agenda", Allow(relation=W.INVITEE), MANAGERS),
    _e(C, "meeting order", "order this meeting's agenda", MANAGERS),
    _e(
        C,
        "meeting minutes",
        "record this meeting's minutes",
        Allow(relation=W.NOTE_TAKER),
        MANAGERS,
    ),
    _e(C, "meeting notetaker", "name this meeting's note-taker", MANAGERS),
    _e(C, "meeting change", "change this meeting", MANAGERS),
    _e(C, "meeting cancel", "cancel this meeting", MANAGERS),
    _e(C, "actions", "list their actions from meetings", LINKED),
    # The whole local authority's log: only for officers whose remit is the whole of it.
    _e(C, "audit", "read the audit log", Allow(R.LA_OFFICER, S.COUNTY), Allow(R.ADMINISTRATOR)),
    # --- buttons
    _e(B, "slis.healthcheck.start", "answer this healthcheck", Allow(relation=W.ADDRESSEE)),
    _e(
        B,
        "reminder:cancel",
        "cancel this reminder",
        Allow(relation=W.OWNER),
        Allow(R.LA_OFFICER, S.SHARED),
        Allow(R.ADMINISTRATOR, S.SHARED),
    ),
    _e(B, SUPPORT + "ask", "ask for support for their own school", OWN_SCHOOL),
    _e(
        B,
        SUPPORT + "suggest",
        "offer support to a partnership",
        Allow(R.QUADRANT_CHAIR, S.QUADRANT),
        Allow(R.LA_OFFICER, S.QUADRANT),
        SEE_ALL,
    ),
    _e(B, SUPPORT + "claim", "claim this request", OFFERED),
    _e(B, SUPPORT + "decline", "decline this request", OFFERED),
    _e(B, SUPPORT + "question", "ask the school a question about this request", OFFERED, HOLDING),
    _e(B, SUPPORT + "reply", "reply about this request", ASKERS),
    _e(B, SUPPORT + "propose", "propose days, dates and cost for this request", HOLDING),
    _e(B, SUPPORT + "accept", "accept the proposal for this request", ASKERS),
    _e(B, SUPPORT + "ask_changes", "ask for changes to the proposal for this request", ASKERS),
    _e(B, SUPPORT + "start", "start the delivery of this request", HOLDING),
    _e(B, SUPPORT + "deliver", "mark this request delivered", HOLDING),
    _e(B, SUPPORT + "close", "close this request", ASKERS),
    _e(B, SUPPORT + "withdraw", "withdraw this request", ASKERS, CHAIRS),
    _e(B, SUPPORT + "escalate", "escalate this request", CHAIRS),
    _e(B, SUPPORT + "assign", "assign this request to an alliance", CHAIRS),
    _e(B, MEETING + "vote", "vote in this meeting's poll", Allow(relation=W.INVITEE)),
    _e(B, MEETING + "close", "close this meeting's poll", MANAGERS),
    _e(B, MEETING + "book", "book this meeting", MANAGERS),
    _e(B, MEETING + "rsvp", "answer this meeting's invitation", Allow(relation=W.INVITEE)),
    _e(B, MEETING + "change", "change this meeting", MANAGERS),
    _e(B, MEETING + "cancel", "cancel this meeting", MANAGERS),
    _e(B, MEETING + "agenda", "add to this meeting's agenda", Allow(relation=W.INVITEE), MANAGERS),
    _e(B, MEETING + "agenda_order", "order this meeting's agenda", MANAGERS),
    _e(
        B,
        MEETING + "minutes",
        "record this meeting's minutes",
        Allow(relation=W.NOTE_TAKER),
        MANAGERS,
    ),
    _e(B, MEETING + "done", "mark this action done", Allow(relation=W.OWNER), MANAGERS),
    # --- forms
    _e(F, "slis.healthcheck.answer", "answer this healthcheck", Allow(relation=W.ADDRESSEE)),
    _e(F, "slis.healthcheck.launch", "launch a healthcheck round", COUNTY_WIDE),
    _e(F, "slis.support.ask", "ask for support for their own school", OWN_SCHOOL),
    _e(F, "slis.support.act", "act on this request", ASKERS, OFFERED, HOLDING, CHAIRS),
    _e(F, MEETING + "new", "propose a meeting for this quadrant", ORGANISERS),
    _e(F, MEETING + "change", "change this meeting", MANAGERS),
    _e(F, MEETING + "cancel", "cancel this meeting", MANAGERS),
    _e(F, MEETING + "agenda", "add to this meeting's agenda", Allow(relation=W.INVITEE), MANAGERS),
    _e(F, MEETING + "agenda_order", "order this meeting's agenda", MANAGERS),
    _e(
        F,
        MEETING + "minutes",
        "record this meeting's minutes",
        Allow(relation=W.NOTE_TAKER),
        MANAGERS,
    ),
)

TABLE: Mapping[tuple[Kind, str], Entry] = MappingProxyType({(e.kind, e.key): e for e in ENTRIES})
assert len(TABLE) == len(ENTRIES), "one entry per command, button and form"


def command(words: str) -> Entry:
    """The entry of a command ("support list")."""
    return TABLE[(Kind.COMMAND, words)]


def button(action_id: str) -> Entry | None:
    """The entry of a button by its action id; a button's own detail ("rsvp.going",
    "suggest:3") is dropped. None for an action id that is not in the table."""
    for prefix in (SUPPORT, MEETING):
        if action_id.startswith(prefix):
            name = action_id.removeprefix(prefix).partition(".")[0].partition(":")[0]
            return TABLE.get((Kind.BUTTON, prefix + name))
    return TABLE.get((Kind.BUTTON, action_id))


def form(callback_id: str) -> Entry | None:
    """The entry of a form by its callback id (None: not in the table)."""
    return TABLE.get((Kind.FORM, callback_id))
