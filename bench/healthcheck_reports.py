"""Healthcheck reports at county size: how long the county report, its heat map, CSV and XLSX
take for the latest of many rounds (with the change since the previous one), and one
partnership's report; and the memory they need.

A database gets one local authority with 4 quadrants and P partnerships of H schools, a head for
each school, and R closed anonymous rounds of the partnership healthcheck in which every head
answers (P × H responses a round, nine ratings and a diamond 9 each, some comments). Then the
reports for the latest round are built several times and the median wall time of each step is
printed, with the tracemalloc peak of building the county report (and of the whole reply) and
the process's peak resident memory.

    .venv/bin/python bench/healthcheck_reports.py [--partnerships 60] [--heads 5] [--rounds 10]
        [--runs 5] [--database-url postgresql://postgres@127.0.0.1/bench]
"""

from __future__ import annotations

import argparse
import random
import resource
import secrets
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.replies.healthcheck_report import present  # noqa: E402
from bot.services.healthcheck import charts, exports, shipped_templates  # noqa: E402
from bot.services.healthcheck.report import ReportService, RoundReport  # noqa: E402
from bot.services.healthcheck.responses import ResponseKeys  # noqa: E402
from bot.types import Actor, ChatUser, Grant, Platform, Role, ScopeKind  # noqa: E402
from storage.engine import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    Partnership,
    PartnershipMembership,
    Person,
    Quadrant,
    School,
    Tenant,
)
from storage.survey_tables import (  # noqa: E402
    SurveyAnswer,
    SurveyInvitation,
    SurveyResponse,
    SurveyRound,
)

QUADRANTS = ("West", "South", "Mid", "North East")
FIRST_OPENS = datetime(2024, 9, 9, 8, 0, tzinfo=UTC)
COMMENTS = (
    "Cluster meetings are well attended.",
    "We need more release time for leaders.",
    "Links with the alliance have improved.",
    "Funding is uncertain beyond this year.",
)


def build(db: Database, partnerships: int, heads: int, rounds: int) -> dict[str, Any]:
    """The directory and the rounds; returns the ids the timings need."""
    rng = random.Random(881)
    template = shipped_templates()["partnership_healthcheck"]
    scale_ids = [q.id for q in template.questions if q.type == "scale"]
    items = list(template.items)
    with db.session() as s:
        tenant = Tenant(name="Benchshire", la_code=990, created_at=FIRST_OPENS)
        s.add(tenant)
        s.flush()
        assert tenant.id is not None
        t = tenant.id
        quadrant_ids = []
        for name in QUADRANTS:
            q = Quadrant(tenant_id=t, name=name)
            s.add(q)
            s.flush()
            quadrant_ids.append(q.id)
        officer = Person(tenant_id=t, name="Officer Benchmark", email="officer@la.example.org")
        s.add(officer)
        s.flush()
        partnership_ids: list[int] = []
        invitees: list[tuple[int, int]] = []  # (person, partnership)
        for p in range(partnerships):
            quadrant = quadrant_ids[p % len(quadrant_ids)]
            partnership = Partnership(
                tenant_id=t,
                name=f"Bench Partnership {p:03d}",
                kind="slis_cluster",
                quadrant_id=quadrant,
            )
            s.add(partnership)
            s.flush()
            assert partnership.id is not None
            partnership_ids.append(partnership.id)
            for h in range(heads):
                urn = 900000 + p * 100 + h
                school = School(
                    tenant_id=t,
                    urn=urn,
                    name=f"Bench School {urn}",
                    quadrant_id=quadrant,
                    updated_at=FIRST_OPENS,
                )
                head = Person(
                    tenant_id=t, name=f"Head {urn}", email=f"head{urn}@schools.example.org"
                )
                s.add_all([school, head])
                s.flush()
                assert school.id is not None and head.id is not None
                s.add(
                    PartnershipMembership(
                        tenant_id=t, partnership_id=partnership.id, school_id=school.id
                    )
                )
                invitees.append((head.id, partnership.id))
        assert officer.id is not None
        officer_id = officer.id
    round_ids: list[int] = []
    for r in range(rounds):
        opens = FIRST_OPENS + timedelta(weeks=13 * r)
        with db.session() as s:
            survey = SurveyRound(
                created_at=opens,
                tenant_id=t,
                template_id=template.id,
                template_snapshot=template.snapshot(),
                title=f"Partnership healthcheck {r + 1}",
                launched_by=officer_id,
                audience_role="head",
                audience_scope_kind="county",
                audience_label="Heads",
                opens_at=opens,
                closes_at=opens + timedelta(days=14),
                anonymous=True,
                nudge_plan={},
                status="closed",
            )
            s.add(survey)
            s.flush()
            assert survey.id is not None
            round_ids.append(survey.id)
            invitations, responses, answers = [], [], []
            for person_id, partnership_id in invitees:
                invitations.append(
                    {
                        "tenant_id": t,
                        "round_id": survey.id,
                        "person_id": person_id,
                        "subject_kind": "partnership",
                        "subject_id": partnership_id,
                        "response_subject_kind": "partnership",
                        "response_subject_id": partnership_id,
                        "answered": True,
                        "nudges_sent": 0,
                    }
                )
                response_id = uuid.uuid4()
                responses.append(
                    {
                        "id": response_id,
                        "tenant_id": t,
                        "round_id": survey.id,
                        "subject_kind": "partnership",
                        "subject_id": partnership_id,
                        "respondent_person_id": None,
                        "respondent_key": secrets.token_hex(32),
                        "submitted_at": None,
                        "revision": 1,
                    }
                )
                for question_id in scale_ids:
                    comment = rng.choice(COMMENTS) if rng.random() < 0.05 else None
                    answers.append(
                        {
                            "response_id": response_id,
                            "question_id": question_id,
                            "tenant_id": t,
                            "value": rng.randint(1, 4),
                            "comment": comment,
                        }
                    )
                order = [i.id for i in items]
                rng.shuffle(order)
                tiers = [order[0:1], order[1:3], order[3:6], order[6:8], order[8:9]]
                answers.append(
                    {
                        "response_id": response_id,
                        "question_id": "diamond_nine",
                        "tenant_id": t,
                        "value": tiers,
                        "comment": None,
                    }
                )
            conn = s.connection()
            conn.execute(insert(SurveyInvitation), invitations)
            conn.execute(insert(SurveyResponse), responses)
            for start in range(0, len(answers), 5000):
                conn.execute(insert(SurveyAnswer), answers[start : start + 5000])
    return {
        "tenant_id": t,
        "officer_id": officer_id,
        "partnership_ids": partnership_ids,
        "latest": round_ids[-1],
    }


def actor(tenant_id: int, person_id: int, grant: Grant) -> Actor:
    return Actor(
        ChatUser(Platform.SLACK, "TBENCH", f"U{person_id}"),
        tenant_id,
        "Benchshire",
        person_id,
        "Bench Person",
        (grant,),
    )


def timed(runs: int, step: Callable[[], Any]) -> tuple[float, Any]:
    """The median wall time of `runs` calls, and the last call's result."""
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = step()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def peak(step: Callable[[], Any]) -> float:
    """The tracemalloc peak of one call, in MiB."""
    tracemalloc.start()
    try:
        step()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partnerships", type=int, default=60)
    parser.add_argument("--heads", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    url = args.database_url or (
        f"sqlite:///{Path(tempfile.mkdtemp(prefix='slis-bench-')) / 'bench.db'}"
    )
    upgrade(url)
    db = Database.from_url(url)
    started = time.perf_counter()
    ids = build(db, args.partnerships, args.heads, args.rounds)
    # Planner statistics, as autovacuum would gather after such a load; without them PostgreSQL
    # takes the freshly loaded tables for empty and picks slow plans.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    per_round = args.partnerships * args.heads
    print(
        f"built {args.rounds} rounds × {per_round} responses ({args.partnerships} partnerships × "
        f"{args.heads} heads) in {time.perf_counter() - started:.1f} s, "
        f"{db.engine.dialect.name}"
    )
    service = ReportService(db, keys=ResponseKeys("b" * 48))
    officer = actor(
        ids["tenant_id"], ids["officer_id"], Grant(Role.LA_OFFICER, ScopeKind.COUNTY, None, "")
    )
    lead_of = ids["partnership_ids"][0]
    lead = actor(
        ids["tenant_id"],
        ids["officer_id"] + 1,
        Grant(Role.PARTNERSHIP_LEAD, ScopeKind.PARTNERSHIP, lead_of, ""),
    )
    latest = f"#{ids['latest']}"

    service.report(officer, latest)  # warm up: imports, font cache, first queries
    county_s, county = timed(args.runs, lambda: service.report(officer, latest))
    report: RoundReport = county
    assert report.previous_round is not None and len(report.partnerships) == args.partnerships
    heat_s, png = timed(args.runs, lambda: charts.heat_map_png(report))
    csv_s, csv_data = timed(args.runs, lambda: exports.to_csv(report))
    xlsx_s, xlsx_data = timed(args.runs, lambda: exports.to_xlsx(report))
    reply_s, _ = timed(args.runs, lambda: present(service.report(officer, latest)))
    one_s, one = timed(args.runs, lambda: service.report(lead, latest))
    one_reply_s, _ = timed(args.runs, lambda: present(service.report(lead, latest)))

    print(f"latest round {latest}, with the change since the previous one; median of {args.runs}")
    print(f"  county report ({args.partnerships} partnership rows): {county_s * 1000:.0f} ms")
    print(f"  heat map PNG: {heat_s * 1000:.0f} ms ({len(png) / 1024:.0f} KiB)")
    print(f"  CSV: {csv_s * 1000:.0f} ms ({len(csv_data) / 1024:.0f} KiB)")
    print(f"  XLSX: {xlsx_s * 1000:.0f} ms ({len(xlsx_data) / 1024:.0f} KiB)")
    total_s = county_s + heat_s + csv_s + xlsx_s
    print(f"  county total, report + heat map + CSV + XLSX: {total_s * 1000:.0f} ms")
    print(f"  county reply as sent (present(): blocks, chart, CSV, XLSX): {reply_s * 1000:.0f} ms")
    print(f"  one partnership's report ({one.overall.responses} responses): {one_s * 1000:.0f} ms")
    print(f"  one partnership's reply as sent: {one_reply_s * 1000:.0f} ms")
    report_peak = peak(lambda: service.report(officer, latest))
    reply_peak = peak(lambda: present(service.report(officer, latest)))
    print(
        f"  tracemalloc peak: county report {report_peak:.1f} MiB, "
        f"county reply with files {reply_peak:.1f} MiB"
    )
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"  process peak resident memory (ru_maxrss): {maxrss:.0f} MiB")
    db.dispose()


if __name__ == "__main__":
    main()
