"""Healthcheck round reports: hand-computed aggregates, k-suppression, flags, who sees what.

Every expected number below is worked out by hand from the answers in `healthcheck_world`
(the comment by each says from which), never by the code under test.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import timedelta
from fractions import Fraction
from itertools import combinations

import matplotlib.image
import pytest

from bot.errors import Forbidden, NotFound, UserError
from bot.replies.healthcheck_report import present
from bot.services.healthcheck import charts
from bot.services.healthcheck.report import (
    Comparison,
    GroupResult,
    ReportService,
    RoundReport,
    _Directory,
    _Response,
    suppression,
)
from bot.types import BulletList, Context, Fields, Heading, Paragraph, Reply
from handlers.slack import render
from storage.engine import Database
from storage.survey_tables import SurveyRound
from tests.services.healthcheck_world import (
    A_PEOPLE,
    ALLIANCE,
    B_BEFORE,
    B_PEOPLE,
    BOARD,
    C_PEOPLE,
    CHAIR,
    CONDITIONS,
    HARLOW,
    HEAD,
    KEYS,
    LEAD,
    LITTLE_WREN_HEAD,
    OFFICER,
    OLD_MILL_HEAD,
    PLAIN_DIAMOND,
    T1,
    TENDRING,
    WEST_CHAIR,
    WEST_HEAD,
    WREN_HEAD,
    WRENFOLD,
    ReportWorld,
    build_report_world,
    checkin_round,
    healthcheck_rounds,
    later_round,
    launch,
    share_schools,
    submit,
)

PNG = b"\x89PNG\r\n\x1a\n"
SCALE_IDS = CONDITIONS

# Tendring Coast this round (A_NOW): per condition the mean and the count of 1s, 2s, 3s, 4s.
TENDRING_NOW = {
    "vision": (3.50, (0, 0, 2, 2)),  # 4 3 4 3 = 14 / 4
    "trust": (1.75, (1, 3, 0, 0)),  # 2 1 2 2 = 7 / 4
    "engagement": (3.00, (0, 1, 2, 1)),  # 3 3 2 4 = 12 / 4
    "system_leadership": (3.00, (0, 1, 2, 1)),  # 3 2 3 4 = 12 / 4
    "la_role": (2.00, (1, 2, 1, 0)),  # 2 2 3 1 = 8 / 4
    "support_capacity": (2.25, (0, 3, 1, 0)),  # 2 3 2 2 = 9 / 4
    "regional_links": (1.50, (2, 2, 0, 0)),  # 1 2 1 2 = 6 / 4
    "financial_contributions": (1.25, (3, 1, 0, 0)),  # 1 1 2 1 = 5 / 4
    "partnership_structures": (3.00, (0, 1, 2, 1)),  # 3 3 4 2 = 12 / 4
}
# Tendring last round (A_BEFORE): vision 3 3 3 3, trust 3 3 3 2 = 11 / 4; the rest as now.
TENDRING_BEFORE = {"vision": 3.00, "trust": 2.75}
# Mean tier of each item over A_DIAMONDS (tiers 1-5), best first; ties in template item order.
TENDRING_DIAMOND = (
    ("vision", 1.50),  # 1 2 1 2
    ("engagement", 2.00),  # 2 1 3 2
    ("system_leadership", 2.00),  # 3 2 2 1
    ("partnership_structures", 2.50),  # 2 3 2 3
    ("la_role", 3.25),  # 3 3 3 4
    ("support_capacity", 3.25),  # 4 3 3 3
    ("trust", 3.50),  # 3 4 4 3
    ("regional_links", 4.25),  # 4 4 5 4
    ("financial_contributions", 4.75),  # 5 5 4 5
)


@pytest.fixture(params=[True, False], ids=["anonymous", "named"])
def rw(db: Database, request: pytest.FixtureRequest) -> ReportWorld:
    world = build_report_world(db)
    healthcheck_rounds(world, anonymous=request.param)
    return world


def service(rw: ReportWorld, *, keys: bool = True) -> ReportService:
    return ReportService(rw.db, min_group=3, keys=KEYS if keys else None)


def report(rw: ReportWorld, email: str, args: str, *, keys: bool = True) -> RoundReport:
    return service(rw, keys=keys).report(rw.actor(email), args)


# --- the numbers ------------------------------------------------------------------------------


def test_partnership_report_matches_the_hand_computed_figures(rw: ReportWorld) -> None:
    r = report(rw, LEAD, "healthcheck")
    assert r.round.id == rw.rounds["now"]
    assert r.previous_round is not None and r.previous_round.id == rw.rounds["before"]
    assert (r.scope.kind, r.scope.name) == ("partnership", TENDRING)
    assert (r.overall.responses, r.overall.invited, r.overall.suppressed) == (4, 4, False)
    assert r.partnerships == ()
    for question_id, (mean, counts) in TENDRING_NOW.items():
        result = r.overall.question(question_id)
        assert result.n == 4
        assert result.mean == mean, question_id
        assert tuple(c.count for c in result.counts) == counts, question_id
        assert tuple(c.key for c in result.counts) == ("1", "2", "3", "4")
        assert result.previous is not None and not result.previous.suppressed
        before = TENDRING_BEFORE.get(question_id, mean)
        assert result.previous.previous_mean == before
        assert result.previous.change == round(mean - before, 2)
    assert r.overall.question("trust").previous.change == -1.00  # type: ignore[union-attr]
    assert r.overall.question("vision").previous.change == 0.50  # type: ignore[union-attr]
    assert r.overall.question("vision").counts[3].label == "Fully in place"


def test_the_diamond_nine_is_aggregated_by_mean_tier(rw: ReportWorld) -> None:
    ranking = report(rw, LEAD, "healthcheck").overall.question("diamond_nine")
    assert tuple((i.item_id, i.mean_tier) for i in ranking.ranking) == TENDRING_DIAMOND
    assert [[i.item_id for i in tier] for tier in ranking.diamond] == [
        ["vision"],
        ["engagement", "system_leadership"],
        ["partnership_structures", "la_role", "support_capacity"],
        ["trust", "regional_links"],
        ["financial_contributions"],
    ]
    assert ranking.ranking[0].label.startswith("A clear and compelling vision")


def test_comments_are_listed_sorted_and_without_names(rw: ReportWorld) -> None:
    r = report(rw, LEAD, "healthcheck")
    assert r.overall.question("trust").comments == (
        "Meetings feel guarded.",
        "Trust has slipped since the restructure.",
    )
    reply = present(r)
    text = _all_text(reply.blocks)
    for name in ("Ben Imaginary", "Ada Fictional", "Ted Inventa", "Una Fabrica"):
        assert name not in text


def test_the_county_report_has_a_row_per_partnership_and_suppresses_small_ones(
    rw: ReportWorld,
) -> None:
    r = report(rw, OFFICER, "")
    assert r.round.id == rw.rounds["now"]  # the draft after it has not opened
    assert (r.scope.kind, r.scope.name) == ("county", "Essex")
    # Tendring's 4, Harlow's 2 and Wrenfold's 3 responses; 4 + 3 + 3 invited.
    assert (r.overall.responses, r.overall.invited) == (9, 10)
    vision, trust = r.overall.question("vision"), r.overall.question("trust")
    assert vision.mean == 3.44  # (14 + 4 + 4 + 3 + 3 + 3) / 9 = 31 / 9
    assert tuple(c.count for c in vision.counts) == (0, 0, 5, 4)  # 3s: 2 + 3; 4s: 2 + 2
    assert trust.mean == 2.33  # (7 + 1 + 4 + 3 + 3 + 3) / 9 = 21 / 9
    assert tuple(c.count for c in trust.counts) == (2, 3, 3, 1)
    # Last round, 10 responses: vision 12 + 9 + 9 = 30 / 10 = 3.00; trust 11 + 9 + 9 = 29 / 10.
    assert vision.previous is not None and vision.previous.previous_mean == 3.00
    assert vision.previous.change == 0.44  # 31/9 - 3 = 4/9
    assert trust.previous is not None and trust.previous.previous_mean == 2.90
    assert trust.previous.change == -0.57  # 21/9 - 29/10 = -17/30
    assert [g.name for g in r.partnerships] == [HARLOW, TENDRING, WRENFOLD]
    harlow, tendring, wrenfold = r.partnerships
    # Harlow: 2 < k. Wrenfold (3) as well, complementarily: shown, the county less Tendring and
    # Wrenfold would be Harlow's 2 answers. Left outside Tendring: 2 + 3 = 5 >= k.
    for hidden, invited in ((harlow, 3), (wrenfold, 3)):
        assert hidden.suppressed and hidden.responses is None and hidden.invited == invited
        for result in hidden.questions:
            assert result.suppressed
            assert (result.n, result.mean, result.counts, result.ranking, result.previous) == (
                None,
                None,
                (),
                (),
                None,
            )
            assert result.comments == () and result.answers == ()
    assert (tendring.responses, tendring.invited, tendring.suppressed) == (4, 4, False)
    assert tendring.question("trust").mean == 1.75
    # Every comment in the county (a group of 9), sorted; B's included, unattributed.
    assert r.overall.question("vision").comments == ("Our vision is strong.",)
    assert tendring.question("trust").comments == ()  # text only for the report's scope


def test_heat_map_data_has_no_numbers_for_a_suppressed_partnership(rw: ReportWorld) -> None:
    data = charts.heat_map_data(report(rw, OFFICER, "county"))
    assert data.rows == (HARLOW, TENDRING, WRENFOLD)
    assert data.question_ids == SCALE_IDS
    assert data.values[0] == (None,) * 9  # Harlow: 2 < k
    assert data.values[1] == tuple(TENDRING_NOW[q][0] for q in SCALE_IDS)
    assert data.values[2] == (None,) * 9  # Wrenfold: complementarily suppressed
    assert (data.low, data.high) == (1, 4)


def test_a_fall_of_one_point_flags_the_partnership(rw: ReportWorld) -> None:
    flags = report(rw, OFFICER, "").flags
    # Not Wrenfold's fall in regional links: its row is (complementarily) suppressed.
    assert [(f.partnership, f.question_id) for f in flags] == [(TENDRING, "trust")]
    assert "2.75 to 1.75" in flags[0].reason
    assert flags[0].can_offer_support is True  # an LA officer may offer support
    # The same flag in the partnership's own report, where its lead can't offer it to itself.
    own = report(rw, LEAD, "").flags
    assert [f.question_id for f in own] == ["trust"]
    assert own[0].can_offer_support is False


def test_a_suppressed_scope_shows_nothing(rw: ReportWorld) -> None:
    r = report(rw, WEST_HEAD, "healthcheck")
    assert (r.scope.name, r.overall.suppressed, r.overall.responses) == (HARLOW, True, None)
    assert all(q.suppressed and q.mean is None and not q.comments for q in r.overall.questions)
    assert r.flags == ()
    reply = present(r)
    text = _all_text(reply.blocks)
    assert "Fewer than 3 responses" in text
    assert "4.00" not in text  # Harlow's ratings are all 4 but one
    # Her own answers are hers to see, even so.
    assert [o.subject for o in r.own] == [HARLOW]


def test_a_previous_group_under_k_is_not_compared(db: Database) -> None:
    rw = build_report_world(db)
    healthcheck_rounds(rw)
    r = ReportService(db, min_group=4, keys=KEYS).report(rw.actor(OFFICER), "healthcheck")
    # k = 4: Harlow (2 now, 3 before) and Wrenfold (3 and 3) suppressed; Tendring 4 and 4:
    # shown (outside it 2 + 3 = 5 >= k) and compared.
    harlow, tendring, wrenfold = r.partnerships
    assert harlow.suppressed and wrenfold.suppressed
    trust = tendring.question("trust")
    assert trust.previous is not None and trust.previous.change == -1.00
    r5 = ReportService(db, min_group=5, keys=KEYS).report(rw.actor(OFFICER), "healthcheck")
    assert all(g.suppressed for g in r5.partnerships)
    assert r5.flags == ()
    # County: 9 now, 10 before: shown and compared.
    assert r5.overall.question("vision").previous.change == 0.44  # type: ignore[union-attr]
    r10 = ReportService(db, min_group=10, keys=KEYS).report(rw.actor(OFFICER), "healthcheck")
    assert r10.overall.suppressed  # 9 < 10


def test_a_comparison_with_a_group_under_k_last_time_says_so(db: Database) -> None:
    rw = build_report_world(db)
    healthcheck_rounds(rw)
    harlow_id = rw.world.partnerships[HARLOW]
    later = launch(
        rw,
        "partnership_healthcheck",
        [(rw.person(p), "partnership", harlow_id, "partnership", harlow_id) for p in B_PEOPLE],
        anonymous=True,
        opens=T1 + timedelta(days=60),
    )
    for person in B_PEOPLE:
        submit(rw, later, rw.person(person), {**B_BEFORE[0], "diamond_nine": PLAIN_DIAMOND})
    r = report(rw, OFFICER, f"#{later} {HARLOW}")
    # Harlow: 3 responses now (all 3s), 2 in the round before: shown, but not compared.
    assert (r.overall.responses, r.previous_round.id) == (3, rw.rounds["now"])  # type: ignore[union-attr]
    vision = r.overall.question("vision")
    assert vision.mean == 3.00
    assert vision.previous is not None and vision.previous.suppressed
    assert (vision.previous.previous_mean, vision.previous.change) == (None, None)
    text = _all_text(present(r).blocks)
    assert "last round fewer than 3" in text


def test_a_question_new_since_the_previous_round_has_no_comparison(db: Database) -> None:
    rw = build_report_world(db)
    healthcheck_rounds(rw)
    with db.session() as s:
        before = s.get(SurveyRound, rw.rounds["before"])
        assert before is not None
        snapshot = dict(before.template_snapshot)
        snapshot["questions"] = [q for q in snapshot["questions"] if q["id"] != "vision"]
        before.template_snapshot = snapshot
        s.add(before)
    r = report(rw, LEAD, "healthcheck")
    assert r.overall.question("vision").previous is None
    assert r.overall.question("trust").previous.change == -1.00  # type: ignore[union-attr]


# --- complementary suppression ---------------------------------------------------------------


@pytest.fixture(params=[True, False], ids=["anonymous", "named"])
def pair(db: Database, request: pytest.FixtureRequest) -> ReportWorld:
    """Tendring (4 responses) and Harlow (2) alone: Wrenfold's heads are not invited."""
    world = build_report_world(db)
    healthcheck_rounds(world, anonymous=request.param, wrenfold=False)
    return world


def _no_numbers(group: GroupResult) -> bool:
    return (
        group.suppressed
        and group.responses is None
        and all(
            q.suppressed
            and (q.n, q.mean, q.counts, q.ranking, q.diamond, q.previous)
            == (None, None, (), (), (), None)
            and q.comments == q.answers == ()
            for q in group.questions
        )
    )


def test_two_partnerships_one_under_k_show_neither_row(pair: ReportWorld) -> None:
    r = report(pair, OFFICER, "county")
    # The county is shown: Tendring's 4 and Harlow's 2 responses, 4 + 3 invited.
    assert (r.overall.responses, r.overall.invited, r.overall.suppressed) == (6, 7, False)
    trust = r.overall.question("trust")
    assert trust.mean == 2.00  # Tendring 2 1 2 2, Harlow 1 4: 12 / 6
    assert tuple(c.count for c in trust.counts) == (2, 3, 0, 1)
    # Harlow: 2 < k. Tendring: were it shown, the county less Tendring (trust: 2 3 0 1 less
    # 1 3 0 0) would be Harlow's two answers, 1 and 4. So neither row has a number.
    assert [g.name for g in r.partnerships] == [HARLOW, TENDRING]
    assert all(_no_numbers(g) for g in r.partnerships)
    assert [g.suppressed_reason for g in r.partnerships] == ["small", "complement"]
    assert [g.invited for g in r.partnerships] == [3, 4]
    # Tendring's trust fell from 2.75 to 1.75, but a flag would show its means: none.
    assert r.flags == ()
    data = charts.heat_map_data(r)
    assert data.values == ((None,) * 9, (None,) * 9)
    assert data.hidden == ("small", "complement")
    text = _all_text(present(r).blocks)
    assert f"*{HARLOW}*: fewer than 3 responses (3 invited)" in text
    # Tendring has 4: it is not "fewer than 3", it is hidden to protect Harlow.
    assert (
        f"*{TENDRING}*: hidden so that a smaller group's answers can't be worked out (4 invited)"
    ) in text
    assert f"*{TENDRING}*: fewer than" not in text
    assert "Some larger groups are hidden too" in text
    assert "(4 of 4)" not in text and "Needing attention" not in text
    assert "1.75" not in text  # Tendring's trust mean
    # North East (Tendring's 4) is hidden for the same reason: the county less it is Harlow.
    north_east = report(pair, CHAIR, "")
    assert (north_east.scope.name, north_east.overall.suppressed_reason) == (
        "North East",
        "complement",
    )
    assert _no_numbers(north_east.overall)
    assert all(_no_numbers(g) for g in north_east.partnerships)


def test_a_quadrant_suppresses_rows_in_addition_too(rw: ReportWorld) -> None:
    r = report(rw, WEST_CHAIR, "")
    assert (r.scope.kind, r.scope.name) == ("quadrant", "West")
    # Harlow's 2 and Wrenfold's 3 responses; 3 + 3 invited.
    assert (r.overall.responses, r.overall.invited) == (5, 6)
    vision = r.overall.question("vision")
    assert vision.mean == 3.40  # Harlow 4 4, Wrenfold 3 3 3: 17 / 5
    assert tuple(c.count for c in vision.counts) == (0, 0, 3, 2)
    # Last round Harlow 3 3 3 and Wrenfold 3 3 3: 18 / 6 = 3.00.
    assert vision.previous is not None and vision.previous.change == 0.40
    links = r.overall.question("regional_links")
    assert links.mean == 2.60  # Harlow 4 4, Wrenfold 2 2 1: 13 / 5
    assert tuple(c.count for c in links.counts) == (1, 2, 0, 2)
    # Harlow 2 < k; Wrenfold shown would leave Harlow's 2 outside it: both suppressed.
    assert [g.name for g in r.partnerships] == [HARLOW, WRENFOLD]
    assert all(_no_numbers(g) for g in r.partnerships)
    assert r.flags == ()  # not Wrenfold's fall in regional links


def test_no_row_is_suppressed_in_addition_when_the_rest_is_none_or_at_least_k(
    db: Database,
) -> None:
    rw = build_report_world(db)
    healthcheck_rounds(rw)
    # k = 4: Harlow (2) and Wrenfold (3) under k; outside Tendring 2 + 3 = 5 >= 4: it shows.
    r4 = ReportService(db, min_group=4, keys=KEYS).report(rw.actor(OFFICER), "")
    harlow, tendring, wrenfold = r4.partnerships
    assert harlow.suppressed and wrenfold.suppressed
    assert (tendring.suppressed, tendring.responses) == (False, 4)
    assert tendring.question("trust").mean == 1.75  # 2 1 2 2
    assert [(f.partnership, f.question_id) for f in r4.flags] == [(TENDRING, "trust")]
    # k = 2: no row under k, nothing outside the rows: all three shown, and flagged as they fell.
    r2 = ReportService(db, min_group=2, keys=KEYS).report(rw.actor(OFFICER), "")
    assert [(g.name, g.responses) for g in r2.partnerships] == [
        (HARLOW, 2),
        (TENDRING, 4),
        (WRENFOLD, 3),
    ]
    harlow, tendring, wrenfold = r2.partnerships
    assert harlow.question("trust").mean == 2.50  # 1 4
    assert harlow.question("vision").mean == 4.00  # 4 4
    assert wrenfold.question("regional_links").mean == 1.67  # 2 2 1
    assert [(f.partnership, f.question_id) for f in r2.flags] == [
        (TENDRING, "trust"),  # 2.75 to 1.75
        (WRENFOLD, "regional_links"),  # 3.00 to 1.67
    ]
    # k = 3, North East: Tendring alone, nothing outside it: shown.
    (north_east,) = report(rw, CHAIR, "").partnerships
    assert (north_east.name, north_east.suppressed, north_east.responses) == (TENDRING, False, 4)


def test_a_partnership_hidden_to_protect_another_is_hidden_in_its_own_report(
    rw: ReportWorld,
) -> None:
    # Wrenfold (3 responses) is hidden in the county and West reports to protect Harlow; shown
    # in its own, it would give Harlow away (West less Wrenfold). So it is hidden there too,
    # whoever asks: its own head, an LA officer, the West chair.
    for asker in (WREN_HEAD, OFFICER, WEST_CHAIR):
        r = report(rw, asker, WRENFOLD)
        assert (r.scope.kind, r.scope.name) == ("partnership", WRENFOLD)
        assert r.overall.suppressed_reason == "complement"
        assert (r.overall.responses, r.overall.invited) == (None, 3)
        assert _no_numbers(r.overall)
        assert r.partnerships == () and r.flags == ()  # not its fall in regional links
        reply = present(r)
        text = _all_text(reply.blocks)
        assert "hidden so that a smaller group's answers" in text
        assert "Fewer than 3 responses" not in text and "fewer than 3 (of" not in text
        assert "not shown, to protect a smaller group (of 3 invited)" in text
        assert "1.67" not in text and "3.00" not in text
        assert charts.chart_for(r) is None
        assert [f.media_type for f in reply.files] == [
            "text/csv",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ]
    # Jo's own answers (C_NOW[0]: regional links 2) are hers to see, even so.
    r = report(rw, WREN_HEAD, "")
    assert r.scope.name == WRENFOLD and r.overall.suppressed
    (own,) = r.own
    assert own.subject == WRENFOLD
    answers = {a.question: a.answer for a in own.answers}
    assert answers["Effective links with regional partners"] == "2 (Partly in place)"
    assert "Your own answers for " + WRENFOLD in _all_text(present(r).blocks)
    assert report(rw, OFFICER, WRENFOLD).own == ()


def test_a_partnership_report_of_a_pair_is_hidden_to_protect_the_other(
    pair: ReportWorld,
) -> None:
    # Tendring (4) has no numbers in the two-partnership county: the county less Tendring is
    # Harlow's 2. Its own report would give the same away, so it is hidden, even for its lead.
    r = report(pair, LEAD, "")
    assert (r.scope.name, r.overall.suppressed_reason, r.overall.invited) == (
        TENDRING,
        "complement",
        4,
    )
    assert _no_numbers(r.overall) and r.flags == ()  # its fall in trust is not flagged
    text = _all_text(present(r).blocks)
    assert "1.75" not in text and "hidden so that a smaller group's answers" in text
    # Ben's own answers (A_NOW[0]: trust 2) are his to see.
    (own,) = r.own
    assert own.subject == TENDRING
    answers = {a.question: a.answer for a in own.answers}
    assert answers[
        "Trust and high social capital between schools, the local authority, and partners"
    ] == ("2 (Partly in place)")


def test_no_flag_for_a_row_suppressed_in_addition(rw: ReportWorld) -> None:
    # Wrenfold's regional links fell from 3.00 to 1.67, but it is hidden to protect Harlow, and
    # a flag says the means: no flag in any report (at k = 2, where it is shown, it is flagged:
    # test_no_row_is_suppressed_in_addition_...). (Tendring in the two-partnership county:
    # test_two_partnerships_one_under_k_... and test_a_partnership_report_of_a_pair_... above.)
    for args in ("county", "West", WRENFOLD):
        r = report(rw, OFFICER, args)
        hidden = (
            r.overall if args == WRENFOLD else next(g for g in r.partnerships if g.name == WRENFOLD)
        )
        assert _no_numbers(hidden) and hidden.suppressed_reason == "complement"
        assert WRENFOLD not in [f.partnership for f in r.flags]
        text = _all_text(present(r).blocks)
        assert "3.00 to 1.67" not in text and "1.67" not in text


# --- differencing: every report a person may see, set against each other ----------------------

K = 3
GroupName = tuple[str, str]  # (kind, name), as a report names its groups
COUNTY_NAME = ("county", "Essex")
NORTH_EAST, WEST = ("quadrant", "North East"), ("quadrant", "West")
P_TENDRING, P_HARLOW, P_WRENFOLD = (("partnership", p) for p in (TENDRING, HARLOW, WRENFOLD))

# Who answered the current healthcheck round, group by group (healthcheck_rounds): Tendring's
# four, Harlow's first two (the third did not answer), Wrenfold's three.
NOW_GROUPS: dict[GroupName, frozenset[str]] = {
    COUNTY_NAME: frozenset(A_PEOPLE + B_PEOPLE[:2] + C_PEOPLE),
    NORTH_EAST: frozenset(A_PEOPLE),
    WEST: frozenset(B_PEOPLE[:2] + C_PEOPLE),
    P_TENDRING: frozenset(A_PEOPLE),
    P_HARLOW: frozenset(B_PEOPLE[:2]),
    P_WRENFOLD: frozenset(C_PEOPLE),
}
# The same without Wrenfold (healthcheck_rounds(wrenfold=False)).
PAIR_GROUPS: dict[GroupName, frozenset[str]] = {
    COUNTY_NAME: frozenset(A_PEOPLE + B_PEOPLE[:2]),
    NORTH_EAST: frozenset(A_PEOPLE),
    WEST: frozenset(B_PEOPLE[:2]),
    P_TENDRING: frozenset(A_PEOPLE),
    P_HARLOW: frozenset(B_PEOPLE[:2]),
    P_WRENFOLD: frozenset(),
}
# The named check-in after share_schools, by head: 115141 (Ada) counts in Tendring, its first
# partnership; 990101 (Jo) in Tendring and 990102 (Kit) in Harlow, created before Wrenfold; each
# in its partnership's quadrant. Marsh End (Wrenfold alone) did not answer.
SHARED_GROUPS: dict[GroupName, frozenset[str]] = {
    COUNTY_NAME: frozenset({HEAD, LEAD, WREN_HEAD, WEST_HEAD, OLD_MILL_HEAD, LITTLE_WREN_HEAD}),
    NORTH_EAST: frozenset({HEAD, LEAD, WREN_HEAD}),
    WEST: frozenset({WEST_HEAD, OLD_MILL_HEAD, LITTLE_WREN_HEAD}),
    P_TENDRING: frozenset({HEAD, LEAD, WREN_HEAD}),
    P_HARLOW: frozenset({WEST_HEAD, OLD_MILL_HEAD, LITTLE_WREN_HEAD}),
    P_WRENFOLD: frozenset(),
}

# Every report each person may ask for (their roles), by scope words.
EVERY_SCOPE = ("county", "North East", "West", TENDRING, HARLOW, WRENFOLD)
MAY_SEE: dict[str, tuple[str, ...]] = {
    OFFICER: EVERY_SCOPE,
    BOARD: EVERY_SCOPE,
    WEST_CHAIR: ("West", HARLOW, WRENFOLD),
    CHAIR: ("North East", TENDRING),
    LEAD: (TENDRING,),
    HEAD: (TENDRING, HARLOW),  # 115141 is in both
    WEST_HEAD: (HARLOW,),
    WREN_HEAD: (WRENFOLD,),
}


def _visible(
    rw: ReportWorld, email: str, round_words: str, scopes: Iterable[str]
) -> dict[GroupName, int | None]:
    """Every group with numbers in the reports the person asks for: its response count."""
    seen: dict[GroupName, int | None] = {}
    for scope in scopes:
        r = report(rw, email, f"{round_words} {scope}")
        for group in (r.overall, *r.partnerships):
            if not group.suppressed:
                seen[(group.kind, group.name)] = group.responses
    return seen


def _rank(rows: list[list[Fraction]]) -> int:
    """The rank of a matrix, by Gaussian elimination over the rationals."""
    rows = [list(r) for r in rows]
    rank = 0
    for column in range(len(rows[0]) if rows else 0):
        pivot = next((i for i in range(rank, len(rows)) if rows[i][column] != 0), None)
        if pivot is None:
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(len(rows)):
            if i != rank and rows[i][column] != 0:
                factor = rows[i][column] / rows[rank][column]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[rank], strict=True)]
        rank += 1
    return rank


def assert_nothing_isolated(
    visible: Iterable[GroupName], groups: Mapping[GroupName, frozenset[str]]
) -> None:
    """No arithmetic on the visible groups' figures isolates 1 to k − 1 responses.

    Every figure a report shows (a count, a distribution, a sum of ratings) adds up over its
    group's responses, so what can be worked out from them is what the groups' sets can be added
    and taken away into. Checked three ways: a visible group less every visible group inside it
    leaves none or at least k; no two visible groups differ by 1 to k − 1 responses; and no set
    of fewer than k responses is a combination of the visible groups at all."""
    sets = {name: groups[name] for name in visible}
    for name, parent in sets.items():
        inside = [s for other, s in sets.items() if other != name and s <= parent]
        rest = parent - frozenset().union(*inside)
        assert len(rest) == 0 or len(rest) >= K, (name, sorted(rest))
    for (a, set_a), (b, set_b) in combinations(sets.items(), 2):
        assert not 0 < len(set_a ^ set_b) < K, (a, b, sorted(set_a ^ set_b))
    people = sorted(frozenset().union(*groups.values()))
    rows = [[Fraction(int(p in s)) for p in people] for s in sets.values()]
    known = _rank(rows)
    for size in range(1, K):
        for few in combinations(people, size):
            target = [Fraction(int(p in few)) for p in people]
            assert _rank([*rows, target]) > known, f"{few} can be worked out from {list(sets)}"


def assert_safe(
    seen: Mapping[GroupName, int | None], groups: Mapping[GroupName, frozenset[str]]
) -> None:
    """The reports' counts are the hand-made groups' (so the sets are the ones the reports
    add up), and nothing under k can be worked out from them."""
    assert {name: len(groups[name]) for name in seen} == seen
    assert_nothing_isolated(seen, groups)


def test_no_report_can_be_set_against_another_to_give_harlow_away(rw: ReportWorld) -> None:
    # The review's attack: the county less Tendring and Wrenfold (or West less Wrenfold) is
    # Harlow's two answers, when Wrenfold's own report shows it. Now Wrenfold is hidden in
    # every report, so whatever anyone may ask for, nothing under k can be worked out.
    everything: dict[GroupName, int | None] = {}
    for email, scopes in MAY_SEE.items():
        seen = _visible(rw, email, "healthcheck", scopes)
        assert_safe(seen, NOW_GROUPS)
        everything |= seen
    # All of them together (every report shows the same groups): the county (9), North East
    # (4), West (5) and Tendring (4); never Harlow (2) or Wrenfold (3).
    assert everything == {COUNTY_NAME: 9, NORTH_EAST: 4, WEST: 5, P_TENDRING: 4}
    assert_nothing_isolated(everything, NOW_GROUPS)
    assert _visible(rw, WEST_CHAIR, "healthcheck", MAY_SEE[WEST_CHAIR]) == {WEST: 5}
    assert _visible(rw, WREN_HEAD, "healthcheck", MAY_SEE[WREN_HEAD]) == {}


def test_a_pair_gives_neither_away_whoever_asks(pair: ReportWorld) -> None:
    everything: dict[GroupName, int | None] = {}
    for email, scopes in MAY_SEE.items():
        seen = _visible(pair, email, "healthcheck", scopes)
        assert_safe(seen, PAIR_GROUPS)
        everything |= seen
    # Only the county (6): North East and Tendring (4 each) less it would be Harlow's 2.
    assert everything == {COUNTY_NAME: 6}


def test_a_school_in_two_partnerships_counts_once(db: Database) -> None:
    # The review's attack: in a named check-in a school in two partnerships counted in both, so
    # Tendring's figures and Harlow's, less the county's, were that school's answer. Here three
    # schools are in two partnerships each, and every group has k or more answers.
    rw = build_report_world(db)
    share_schools(rw)
    checkin_round(rw, anonymous=False)
    may_see = {**MAY_SEE, WREN_HEAD: (TENDRING, WRENFOLD), LITTLE_WREN_HEAD: (HARLOW, WRENFOLD)}
    everything: dict[GroupName, int | None] = {}
    for email, scopes in may_see.items():
        seen = _visible(rw, email, "check-in", scopes)
        assert_safe(seen, SHARED_GROUPS)
        everything |= seen
    assert everything == {COUNTY_NAME: 6, NORTH_EAST: 3, WEST: 3, P_TENDRING: 3, P_HARLOW: 3}
    county = report(rw, OFFICER, "check-in")
    tendring = report(rw, OFFICER, f"check-in {TENDRING}").overall
    harlow = report(rw, OFFICER, f"check-in {HARLOW}").overall
    # Tendring: 115141 red, 115142 red, 990101 green. Harlow: 115200 green, 115300 amber,
    # 990102 green. Together, the county's: red 2, amber 1, green 3; nothing counted twice.
    position = "current_position"
    assert [c.count for c in tendring.question(position).counts] == [2, 0, 1]
    assert [c.count for c in harlow.question(position).counts] == [0, 1, 2]
    assert [c.count for c in county.overall.question(position).counts] == [2, 1, 3]
    # Welcome support, yes / no / not now. Tendring: 115141 yes, 115142 yes, 990101 yes.
    # Harlow: 115200 no, 115300 not now, 990102 no. The county: 3 / 2 / 1.
    assert [c.count for c in tendring.question("welcome_support").counts] == [3, 0, 0]
    assert [c.count for c in harlow.question("welcome_support").counts] == [0, 2, 1]
    assert [c.count for c in county.overall.question("welcome_support").counts] == [3, 2, 1]
    assert [(f.partnership, f.reason[:13]) for f in county.flags] == [(TENDRING, "2 red answers")]
    # The reply says which partnership each such school counts in.
    assert county.counting_note is not None
    text = _all_text(present(county).blocks)
    assert "a school in two partnerships counts in the first" in text
    for school, counted, other in (
        ("All Saints Primary School, Great Oakley", TENDRING, HARLOW),
        ("Wrenfold Primary School", TENDRING, WRENFOLD),
        ("Little Wrenfold Infant School", HARLOW, WRENFOLD),
    ):
        assert f"{school} counts in {counted} (not {other})" in text


def test_the_previous_round_cannot_be_differenced_through_comparisons(db: Database) -> None:
    # The review's attack: a round where Wrenfold is shown carries Wrenfold's means of the round
    # before, where it was hidden to protect Harlow; West's (or the county's) means then, less
    # Wrenfold's, were Harlow's. Now a comparison is shown only for a group the previous round
    # itself showed.
    rw = build_report_world(db)
    healthcheck_rounds(rw)
    later = later_round(rw)
    now = rw.rounds["now"]
    compared: set[GroupName] = set()
    shown_then: dict[GroupName, int | None] = {}
    for email, scopes in MAY_SEE.items():
        theirs: set[GroupName] = set()
        for scope in scopes:
            r = report(rw, email, f"#{later} {scope}")
            assert r.previous_round is not None and r.previous_round.id == now
            for group in (r.overall, *r.partnerships):
                for q in group.questions:
                    if q.previous is not None and not q.previous.suppressed:
                        theirs.add((group.kind, group.name))
        # The previous round's means the comparisons show, alone and with that round's own
        # reports.
        assert_nothing_isolated(theirs, NOW_GROUPS)
        seen = _visible(rw, email, f"#{now}", scopes)
        assert_safe(seen, NOW_GROUPS)
        assert_nothing_isolated(set(seen) | theirs, NOW_GROUPS)
        compared |= theirs
        shown_then |= seen
    # What the later round's comparisons show of the current round is what its own reports
    # show: the county, North East, West and Tendring.
    assert compared == set(shown_then) == {COUNTY_NAME, NORTH_EAST, WEST, P_TENDRING}

    county = report(rw, OFFICER, f"#{later}")
    # The later round: Tendring 4, Harlow 3, Wrenfold 3, all shown (nothing outside them).
    assert [(g.name, g.responses) for g in county.partnerships] == [
        (HARLOW, 3),
        (TENDRING, 4),
        (WRENFOLD, 3),
    ]
    harlow, tendring, wrenfold = county.partnerships
    # Wrenfold: vision 3 3 3 now; last round hidden (to protect Harlow), so not compared.
    vision = wrenfold.question("vision")
    assert vision.mean == 3.00
    assert vision.previous == Comparison(now, suppressed=True, reason="complement")
    # Harlow: last round 2 answers, under k.
    assert harlow.question("vision").previous == Comparison(now, suppressed=True, reason="small")
    # Tendring: A_NOW both times, trust 1.75 and 1.75.
    trust = tendring.question("trust")
    assert trust.previous == Comparison(now, False, 1.75, 0.00)
    # West: vision 3 3 3 3 3 3 = 3.00 now; last round Harlow 4 4 and Wrenfold 3 3 3 = 17 / 5.
    west_vision = report(rw, OFFICER, f"#{later} West").overall.question("vision")
    assert west_vision.previous == Comparison(now, False, 3.40, -0.40)
    assert county.flags == ()  # Wrenfold's regional links rose (1.67 to 3.00): not compared
    reply = present(report(rw, WREN_HEAD, f"#{later}"))
    text = _all_text(reply.blocks)
    assert "3.00 (n 3, not comparable: last round's group was suppressed)" in text
    assert "1.67" not in text  # Wrenfold's regional links last round
    assert reply.files[0].media_type == "image/png"


def test_a_hidden_quadrant_cannot_be_worked_out_and_set_against_its_partnerships() -> None:
    # When a quadrant is hidden, the county less the shown quadrants is its total; less its
    # shown partnerships it must not leave fewer than k. Three quadrants: Q1 has partnership A
    # (2 responses), Q2 partnership B (5), Q3 partnerships C (7), D (1) and E (2).
    d = _Directory(
        1,
        "Testshire",
        "Europe/London",
        {1: "Q1", 2: "Q2", 3: "Q3"},
        {10: ("A", 1), 20: ("B", 2), 30: ("C", 3), 40: ("D", 3), 50: ("E", 3)},
        {},
        {},
    )
    sizes = {10: 2, 20: 5, 30: 7, 40: 1, 50: 2}
    responses = [
        _Response(d.place("partnership", p), {}, {}) for p, n in sizes.items() for _ in range(n)
    ]
    hidden = suppression(responses, d, K).hidden
    # A, D, E and Q1 (2) are small. The county less Q2 and Q3 would be Q1's 2: Q2 (5, smaller
    # than Q3's 10) is hidden. Q3 less C leaves D and E, 3: fine. Then the county less Q3 is
    # Q1 and Q2, 7, and less B (shown) would be A's 2: B is hidden too.
    assert hidden == {
        ("quadrant", 1): "small",
        ("partnership", 10): "small",
        ("partnership", 40): "small",
        ("partnership", 50): "small",
        ("quadrant", 2): "complement",
        ("partnership", 20): "complement",
    }
    groups: dict[GroupName, frozenset[str]] = {}
    people = {p: [f"{p}-{i}" for i in range(n)] for p, n in sizes.items()}
    for p, (name, quadrant) in d.partnerships.items():
        groups[("partnership", name)] = frozenset(people[p])
        assert quadrant is not None
        q = ("quadrant", d.quadrants[quadrant])
        groups[q] = groups.get(q, frozenset()) | frozenset(people[p])
    groups[("county", "Testshire")] = frozenset().union(*groups.values())
    # What is shown: the county (17), Q3 (10) and C (7).
    assert_nothing_isolated(
        [("county", "Testshire"), ("quadrant", "Q3"), ("partnership", "C")], groups
    )


# --- rounds and scopes ----------------------------------------------------------------------


def test_round_by_number_template_word_and_default(rw: ReportWorld) -> None:
    now, before = rw.rounds["now"], rw.rounds["before"]
    assert report(rw, OFFICER, f"#{before}").round.id == before
    assert report(rw, OFFICER, f"{before} county").round.id == before
    assert report(rw, OFFICER, f"Tendring #{before}").round.id == before
    assert report(rw, OFFICER, "partnership_healthcheck").round.id == now
    old = report(rw, OFFICER, f"#{before}")
    assert old.previous_round is None
    assert old.overall.question("vision").previous is None


def test_a_round_that_has_not_opened_is_not_found_and_the_hint_lists_recent_ones(
    rw: ReportWorld,
) -> None:
    with pytest.raises(NotFound) as caught:
        report(rw, OFFICER, f"#{rw.rounds['draft']}")
    hint = caught.value.hint or ""
    assert f"#{rw.rounds['now']} Partnership healthcheck, autumn 2026 (2 Nov – 16 Nov 2026)" in hint
    assert f"#{rw.rounds['before']} Partnership healthcheck, spring 2026" in hint
    assert "spring 2027" not in hint
    with pytest.raises(NotFound):
        report(rw, OFFICER, "maturity")


def test_scopes_by_name(rw: ReportWorld) -> None:
    assert report(rw, OFFICER, "essex").scope.kind == "county"
    assert report(rw, OFFICER, "tendring").scope.name == TENDRING
    assert report(rw, OFFICER, "north east quadrant").scope.name == "North East"
    with pytest.raises(UserError, match="Which one") as caught:
        report(rw, OFFICER, "st")
    assert not isinstance(caught.value, NotFound)
    with pytest.raises(NotFound):
        report(rw, OFFICER, "Atlantis")


def test_quadrant_report_for_its_chair(rw: ReportWorld) -> None:
    r = report(rw, CHAIR, "")
    assert (r.scope.kind, r.scope.name) == ("quadrant", "North East")
    assert (r.overall.responses, [g.name for g in r.partnerships]) == (4, [TENDRING])
    assert report(rw, CHAIR, "Tendring").scope.name == TENDRING


# --- who sees what ----------------------------------------------------------------------------


def test_a_chair_may_not_see_another_quadrant(rw: ReportWorld) -> None:
    with pytest.raises(Forbidden) as caught:
        report(rw, CHAIR, "West")
    assert caught.value.message == (
        "Only Project Board members, LA officers and administrators, "
        "quadrant chairs for the quadrant or partnership leads and headteachers of the"
        " partnership may see this healthcheck report (West)."
    )
    with pytest.raises(Forbidden, match=rf"may see this healthcheck report \({HARLOW}\)"):
        report(rw, CHAIR, HARLOW)
    with pytest.raises(Forbidden, match=r"may see this healthcheck report \(Essex\)"):
        report(rw, CHAIR, "county")
    assert report(rw, WEST_CHAIR, "").scope.name == "West"


def test_heads_see_their_partnership_and_their_own_answers(rw: ReportWorld) -> None:
    with pytest.raises(UserError, match="Which partnership") as caught:
        report(rw, HEAD, "")  # 115141 is in both partnerships
    assert HARLOW in caught.value.message and TENDRING in caught.value.message
    r = report(rw, HEAD, "healthcheck Tendring")
    assert (r.scope.name, r.overall.responses) == (TENDRING, 4)
    assert r.own_note is None
    (own,) = r.own
    assert own.subject == TENDRING
    answers = {a.question: a.answer for a in own.answers}
    # Ada's answers are A_NOW[1]: 3 1 3 2 2 3 2 1 3.
    assert answers["A clear and compelling vision for the local school improvement system"] == (
        "3 (Largely in place)"
    )
    assert answers[
        "Trust and high social capital between schools, the local authority, and partners"
    ] == ("1 (Not yet in place)")
    with pytest.raises(Forbidden, match=rf"may see this healthcheck report \({TENDRING}\)"):
        report(rw, WEST_HEAD, TENDRING)
    with pytest.raises(Forbidden, match=r"may see this healthcheck report \(Essex\)"):
        report(rw, HEAD, "county")


def test_without_keys_own_answers_in_an_anonymous_round_are_not_shown(db: Database) -> None:
    rw = build_report_world(db)
    healthcheck_rounds(rw, anonymous=True)
    r = report(rw, HEAD, "Tendring", keys=False)
    assert r.own == ()
    assert r.own_note is not None and "anonymous" in r.own_note
    assert any(isinstance(b, Context) and "anonymous" in b.text for b in present(r).blocks)


def test_without_keys_own_answers_in_a_named_round_are_shown(db: Database) -> None:
    rw = build_report_world(db)
    healthcheck_rounds(rw, anonymous=False)
    r = report(rw, HEAD, "Tendring", keys=False)
    assert len(r.own) == 1 and r.own_note is None


def test_board_members_and_officers_see_the_county(rw: ReportWorld) -> None:
    assert report(rw, BOARD, "").scope.kind == "county"
    assert report(rw, BOARD, "West").scope.name == "West"


def test_people_without_a_report_role_are_refused(rw: ReportWorld) -> None:
    with pytest.raises(Forbidden, match="Project Board"):
        report(rw, ALLIANCE, "")
    with pytest.raises(Forbidden):
        report(rw, ALLIANCE, f"#{rw.rounds['now']}")


def test_another_tenants_rounds_are_invisible(db: Database) -> None:
    essex = build_report_world(db)
    healthcheck_rounds(essex)
    other = build_report_world(db, la_code=882, name="Northshire")
    other_round = checkin_round(other)
    with pytest.raises(NotFound):
        report(essex, OFFICER, f"#{other_round}")
    with pytest.raises(NotFound):
        report(other, OFFICER, f"#{essex.rounds['now']}")
    with pytest.raises(NotFound):
        report(other, OFFICER, "healthcheck")
    r = report(other, OFFICER, "")
    assert r.round.id == other_round and r.scope.name == "Northshire"
    assert r.overall.responses == 6  # Northshire's six heads who answered, none of Essex's


# --- the school check-in: RAG ------------------------------------------------------------------


@pytest.mark.parametrize("anonymous", [False, True], ids=["named", "anonymous"])
def test_the_county_checkin_counts_every_answer_once(db: Database, anonymous: bool) -> None:
    rw = build_report_world(db)
    round_id = checkin_round(rw, anonymous=anonymous)
    r = report(rw, OFFICER, "check-in")
    assert r.round.id == round_id and r.round.still_open
    assert (r.overall.responses, r.overall.invited) == (6, 7)  # Marsh End has not answered
    position = r.overall.question("current_position")
    # Red: 115141, 115142; amber: 115300; green: 115200, 990101, 990102.
    assert [(c.key, c.count) for c in position.counts] == [("red", 2), ("amber", 1), ("green", 3)]
    assert r.overall.question("position_notes").answers == (
        "Falling rolls.",
        "Two senior leaders are off long term.",
    )
    support = r.overall.question("welcome_support")
    # Yes: 115141, 115142, 990101; no: 115200, 990102; not now: 115300.
    assert [(c.key, c.count) for c in support.counts] == [("yes", 3), ("no", 2), ("not_now", 1)]
    chart = charts.chart_for(r)
    assert chart is not None and chart.name == "rag" and chart.png.startswith(PNG)


def test_a_red_answer_flags_a_partnership_at_or_above_k(db: Database) -> None:
    rw = build_report_world(db)
    checkin_round(rw, anonymous=True)  # 115141 filed under Harlow at launch
    r = report(rw, OFFICER, "check-in")
    harlow, tendring, wrenfold = r.partnerships
    assert harlow.name == HARLOW and not harlow.suppressed
    # Harlow: 115141 (red), 115200 (green), 115300 (amber).
    assert [c.count for c in harlow.question("current_position").counts] == [1, 1, 1]
    assert tendring.suppressed_reason == "small"  # 115142 alone
    assert wrenfold.suppressed_reason == "small"  # two answers
    # Outside Harlow: 115142 and Wrenfold's two, 3 = k, so Harlow is not suppressed in addition.
    assert [(f.partnership, f.question_id) for f in r.flags] == [(HARLOW, "current_position")]
    assert r.flags[0].reason.startswith("1 red answer")
    # West (Harlow's 3 and Wrenfold's 2) is hidden: the county less West would be 115142 alone.
    west = report(rw, OFFICER, "check-in West")
    assert west.overall.suppressed_reason == "complement"
    assert [(g.name, g.suppressed_reason) for g in west.partnerships] == [
        (HARLOW, None),
        (WRENFOLD, "small"),
    ]
    assert [f.partnership for f in west.flags] == [HARLOW]


def test_a_named_checkin_counts_a_school_in_two_partnerships_in_the_first(db: Database) -> None:
    rw = build_report_world(db)
    checkin_round(rw, anonymous=False)
    r = report(rw, OFFICER, "check-in")
    # 115141 (red) counts in Tendring, created first, not in Harlow: Tendring (115141, 115142),
    # Harlow (115200, 115300) and Wrenfold (990101, 990102) have 2 answers each, under k.
    assert [(g.name, g.invited, g.suppressed_reason) for g in r.partnerships] == [
        (HARLOW, 2, "small"),
        (TENDRING, 2, "small"),
        (WRENFOLD, 3, "small"),
    ]
    assert r.flags == ()
    assert r.counting_note is not None
    assert "a school in two partnerships counts in the first" in r.counting_note
    assert (
        f"All Saints Primary School, Great Oakley counts in {TENDRING} (not {HARLOW})"
        in r.counting_note
    )
    text = _all_text(present(r).blocks)
    assert "a school in two partnerships counts in the first" in text
    # With no partnership row shown, the chart shows the county's answers.
    chart = charts.chart_for(r)
    assert chart is not None and chart.name == "rag"
    # Ada, head of 115141, sees her own answers in Harlow's report too (her school is in it),
    # though her answer counts in Tendring's.
    harlow = report(rw, HEAD, "check-in Harlow")
    assert harlow.overall.suppressed_reason == "small" and harlow.overall.invited == 2
    assert [o.subject for o in harlow.own] == ["All Saints Primary School, Great Oakley"]
    assert harlow.counting_note is not None and TENDRING in harlow.counting_note


def test_named_checkin_quadrants_count_schools_by_their_partnerships_quadrant(
    db: Database,
) -> None:
    rw = build_report_world(db)
    checkin_round(rw, anonymous=False)
    # North East: 115141 and 115142 (Tendring's); two answers, so nothing shown.
    r = report(rw, CHAIR, "check-in")
    assert r.overall.suppressed_reason == "small" and r.overall.invited == 2
    # West: Harlow's 115200 and 115300, Wrenfold's 990101 and 990102: 4, hidden all the same,
    # since the county (6) less West would be North East's 2.
    west = report(rw, WEST_CHAIR, "check-in")
    assert (west.overall.suppressed_reason, west.overall.invited) == ("complement", 5)


# --- the reply --------------------------------------------------------------------------------


def test_the_reply_reads_well_and_carries_the_files(rw: ReportWorld) -> None:
    reply = present(report(rw, OFFICER, ""))
    assert isinstance(reply.blocks[0], Heading)
    assert (
        reply.blocks[0].text
        == "Partnership healthcheck, autumn 2026: Essex (whole local authority)"
    )
    fields = next(b for b in reply.blocks if isinstance(b, Fields))
    assert ("Responses", "9 of 10 invited") in fields.pairs
    assert ("Status", "Closed") in fields.pairs
    text = _all_text(reply.blocks)
    # Trust: 21 / 9 = 2.33, last round 29 / 10: -17/30 = -0.57.
    assert "*Trust and high social capital" in text and "2.33 (n 9, ▼ -0.57)" in text
    assert f"*{HARLOW}*: fewer than 3 responses (3 invited)" in text
    assert f"*{TENDRING}* (4 of 4)" in text
    assert f"*{WRENFOLD}* (" not in text  # suppressed: no count of its responses
    assert "Needing attention" in text
    assert [f.media_type for f in reply.files] == [
        "image/png",
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ]
    png = reply.files[0].content
    assert png.startswith(PNG)
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    height, width = image.shape[:2]
    assert 600 <= width <= 2000 and 300 <= height <= 1500
    assert reply.files[1].filename == f"healthcheck-{rw.rounds['now']}-essex.csv"
    _fits_slack(reply)


def test_long_lists_are_cut_to_fit_slack(rw: ReportWorld) -> None:
    r = report(rw, OFFICER, "")
    many = tuple(replace(g, name=f"{g.name} {n:03d}") for n in range(15) for g in r.partnerships)
    comments = ("A long comment. " * 30,) * 40
    trust = replace(r.overall.question("trust"), comments=comments)
    overall = replace(
        r.overall,
        questions=tuple(trust if q.question_id == "trust" else q for q in r.overall.questions),
    )
    reply = present(replace(r, partnerships=many, overall=overall))
    lists = [b for b in reply.blocks if isinstance(b, BulletList)]
    assert any(item.startswith("and ") and "more" in item for b in lists for item in b.items)
    _fits_slack(reply)


def test_an_open_round_says_so(db: Database) -> None:
    rw = build_report_world(db)
    checkin_round(rw)
    reply = present(report(rw, OFFICER, "check-in"))
    fields = next(b for b in reply.blocks if isinstance(b, Fields))
    assert ("Status", "Still open until 19 Nov 2026: results may change") in fields.pairs


def _all_text(blocks: tuple[object, ...]) -> str:
    parts: list[str] = []
    for block in blocks:
        match block:
            case Heading(text=t) | Paragraph(text=t) | Context(text=t):
                parts.append(t)
            case Fields(pairs=pairs):
                parts += [f"{a}: {b}" for a, b in pairs]
            case BulletList(items=items, title=title):
                parts += [title or "", *items]
    return "\n".join(parts)


def _fits_slack(reply: Reply) -> None:
    """Each block renders whole: a list or paragraph as one Slack section, under the limits."""
    assert len(render.blocks(reply)) < render.MESSAGE_BLOCK_LIMIT
    for block in reply.blocks:
        rendered = render.blocks(Reply("", (block,)))
        if isinstance(block, BulletList | Paragraph | Context):
            assert len(rendered) == 1, block
        for out in rendered:
            text = out.get("text", {}).get("text", "")
            assert len(text) <= render.SECTION_TEXT_LIMIT
