"""Write bot/data/sample_directory.yaml: a fictional SLIS directory over the real Essex schools.

The schools (URNs and names) come from bot/data/essex_schools.csv; everything else is made up:
partnerships, alliances and people are fictional, e-mails use example.org, chat ids are samples.
The output is deterministic, so re-running it after a change shows a clean diff.

    python scripts/make_sample_directory.py
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHOOLS_CSV = ROOT / "bot" / "data" / "essex_schools.csv"
OUTPUT = ROOT / "bot" / "data" / "sample_directory.yaml"

WORKSPACE = "T0SAMPLE1"
PARTNERSHIP_SIZE = 9  # schools per quadrant partnership, roughly

QUADRANTS: dict[str, list[str]] = {
    "West": ["Epping Forest", "Harlow", "Uttlesford"],
    "South": ["Basildon", "Brentwood", "Castle Point", "Rochford"],
    "Mid": ["Chelmsford", "Braintree", "Maldon"],
    "North East": ["Colchester", "Tendring"],
}

# Places named in school names, by quadrant; a school naming none is placed where fewest are.
PLACES: dict[str, list[str]] = {
    "North East": [
        "colchester", "great oakley", "dovercourt", "alresford", "birch church", "boxted",
        "bradfield", "brightlingsea", "chappel", "copford", "dedham", "elmstead", "fingringhoe",
        "fordham", "frinton", "gosbecks", "great bentley", "harwich", "holland haven",
        "eight ash green", "west bergholt", "langenhoe", "langham", "lawford", "layer-de-la-haye",
        "lexden", "mersea", "myland", "old heath", "parsons heath", "prettygate", "rowhedge",
        "marks tey", "great bromley", "ardleigh", "stanway", "tendring", "walton on the naze",
        "wix and wrabness", "great tey", "new town",
    ],
    "Mid": [
        "chelmsford", "maldon", "baddow", "boreham", "bocking", "braintree", "burnham-on-crouch",
        "cold norton", "cressing", "danbury", "earls colne", "finchingfield", "ford end",
        "galleywood", "great bardfield", "great leighs", "great totham", "great waltham",
        "halstead", "hatfield peverel", "witham", "coggeshall", "sible hedingham", "pebmarsh",
        "bulmer", "toppesfield", "bicknacre", "rettendon", "little waltham", "stock church",
        "terling", "tollesbury", "white notley", "woodham walter", "writtle", "woodham ferrers",
        "swf", "hanningfield", "chipping hill", "great bradfords", "springfield", "broomfield",
    ],
    "West": [
        "harlow", "epping", "ashdon", "bentfield", "birchanger", "clavering", "chrishall",
        "coopersale", "dunmow", "elsenham", "farnham", "felsted", "fyfield", "great easton",
        "great sampford", "hatfield broad oak", "henham", "little hallingbury", "manuden",
        "matching green", "moreton", "nazeing", "newport", "radwinter", "rickling", "sheering",
        "stebbing", "thaxted", "upshire", "wimbish", "church langley", "rodings", "limes farm",
    ],
    "South": [
        "basildon", "brentwood", "canvey", "canewdon", "rawreth", "wickford", "vange",
        "ingatestone", "ingrave", "blackmore", "doddinghurst", "kelvedon hatch", "west horndon",
        "south weald", "warley", "downham", "bentley st paul", "south green", "buttsbury",
    ],
}  # fmt: skip

CLUSTER_NAMES = [
    "Kingfisher", "Saltings", "Heron Reach", "Windmill Green", "Bramble Lane", "Lantern Hill",
    "Oakmere", "Sandpiper", "Meadowsweet", "Hawthorn Way", "Samphire", "Larkrise", "Foxglove",
    "Marram", "Cobnut", "Wherry", "Teasel", "Barleycorn", "Greenwing", "Dunlin", "Pipit",
    "Sloe Hedge", "Reedbed", "Curlew", "Mistletoe", "Tidemill", "Yellowhammer", "Skylark",
]  # fmt: skip
TRUST_NAMES = ["Brightwater", "Four Acres", "Millstream", "Chalkpit"]

ALLIANCES = [
    # name (+ " Teaching School Alliance"), quadrants served, expertise, capacity days per term
    ("Harrowden", ["West"], ["leadership", "peer_review", "maths"], 30),
    ("Quayside", ["North East"], ["send", "safeguarding", "english"], 25),
    ("Fairmead", ["Mid"], ["early_years", "pupil_premium", "science"], 35),
    ("Oystercatcher", ["South"], ["governance", "self_evaluation"], 20),
    ("Greensward", ["Mid", "North East"], ["recruitment", "leadership", "send"], 40),
    ("Copperbeech", ["West", "South"], ["maths", "english", "safeguarding", "peer_review"], 30),
]

FIRST_NAMES = [
    "Ada", "Bea", "Cal", "Dora", "Ezra", "Faye", "Gus", "Hattie", "Ivo", "Jem", "Kit", "Lena",
    "Milo", "Nell", "Otto", "Pia", "Quin", "Rosa", "Seb", "Tess", "Uma", "Vic", "Wren", "Xan",
    "Yara", "Zac",
]  # fmt: skip
SURNAMES = [
    "Applethwaite", "Brackenbury", "Cobblestone", "Dapplegate", "Elderwick", "Fennimoor",
    "Gorseway", "Hollowmere", "Inkwell", "Junipero", "Kettleby", "Larkworthy", "Marshwood",
    "Nettlefold", "Oakapple", "Pebbleton", "Quillfeather", "Rushmere", "Saltcote", "Thistledown",
    "Umberfield", "Vetchley", "Willowby", "Yarrowfield", "Zephyrine", "Bumblestead",
]  # fmt: skip


@dataclass(frozen=True)
class School:
    urn: int
    name: str
    phase: str
    group: str
    place: str  # the place its name shows, or ""


@dataclass
class Partnership:
    name: str
    kind: str
    quadrant: str | None
    schools: list[School]


@dataclass
class Person:
    name: str
    email: str
    job_title: str
    roles: list[tuple[str, str, object]] = field(default_factory=list)  # (role, scope, value)
    chat: str | None = None


def main() -> None:
    schools = read_schools()
    placed = place_in_quadrants(schools)
    partnerships = make_partnerships(placed, schools)
    alliances = [
        (f"{name} Teaching School Alliance", quadrants, tags, days, lead)
        for (name, quadrants, tags, days), lead in zip(
            ALLIANCES, alliance_leads(partnerships), strict=True
        )
    ]
    people = make_people(partnerships, alliances, schools)
    text = render(partnerships, alliances, people, {s.urn: s for s in schools})
    yaml.safe_load(text)  # it must at least parse
    OUTPUT.write_text(text, encoding="utf-8")
    covered = {s.urn for p in partnerships for s in p.schools}
    assert covered == {s.urn for s in schools}, "every school is in a partnership"
    print(
        f"wrote {OUTPUT.relative_to(ROOT)}: {len(partnerships)} partnerships, "
        f"{len(alliances)} alliances, {len(people)} people"
    )


def read_schools() -> list[School]:
    with SCHOOLS_CSV.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        School(
            urn=int(r["URN"]),
            name=r["EstablishmentName"],
            phase=r["PhaseOfEducation (name)"],
            group=r["EstablishmentTypeGroup (name)"],
            place=_place(r["EstablishmentName"])[1],
        )
        for r in rows
    ]


def _place(name: str) -> tuple[str | None, str]:
    lowered = name.lower().replace("’", "'")
    for quadrant, places in PLACES.items():
        for place in places:
            if place in lowered:
                return quadrant, place
    return None, ""


def place_in_quadrants(schools: list[School]) -> dict[str, list[School]]:
    placed: dict[str, list[School]] = {q: [] for q in QUADRANTS}
    unplaced = []
    for school in schools:
        quadrant, _ = _place(school.name)
        if quadrant is None:
            unplaced.append(school)
        else:
            placed[quadrant].append(school)
    for school in sorted(unplaced, key=lambda s: s.urn):
        fewest = min(QUADRANTS, key=lambda q: len(placed[q]))
        placed[fewest].append(school)
    return placed


def make_partnerships(placed: dict[str, list[School]], schools: list[School]) -> list[Partnership]:
    names = iter(CLUSTER_NAMES)
    trusts = iter(TRUST_NAMES)
    out: list[Partnership] = []
    for quadrant, members in placed.items():
        # Neighbours first: schools naming the same place sit together.
        ordered = sorted(members, key=lambda s: (s.place == "", s.place, s.name))
        for i, group in enumerate(_chunks(ordered, round(len(ordered) / PARTNERSHIP_SIZE))):
            if i == 1:
                out.append(Partnership(f"{next(trusts)} Learning Trust", "mat", quadrant, group))
            else:
                out.append(Partnership(f"{next(names)} Cluster", "slis_cluster", quadrant, group))
    secondaries = [s for s in schools if s.phase == "Secondary"]
    special = [s for s in schools if s.group == "Special schools"]
    support = [s for s in schools if s.phase == "Not applicable" and s not in special]
    out.append(Partnership("ASHE Heart of Essex Group", "ashe_group", None, secondaries + support))
    out.append(Partnership("ASHE Crossways Triad", "ashe_triad", None, secondaries[:3]))
    out.append(Partnership("Essex Special Schools Sample Network", "other", None, special))
    return out


def _chunks(items: list[School], n: int) -> Iterator[list[School]]:
    size, extra = divmod(len(items), n)
    start = 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        yield items[start:end]
        start = end


def alliance_leads(partnerships: list[Partnership]) -> list[int]:
    """A lead school per alliance: the last member of a cluster in its first quadrant."""
    leads = []
    for _name, quadrants, *_ in ALLIANCES:
        clusters = [p for p in partnerships if p.quadrant == quadrants[0] and p.kind != "mat"]
        taken = sum(1 for lead in leads if lead in {s.urn for p in clusters for s in p.schools})
        leads.append(clusters[taken].schools[-1].urn)
    return leads


def _names() -> Iterator[tuple[str, str]]:
    total = len(FIRST_NAMES) * len(SURNAMES)
    for i in range(total):
        k = (i * 97) % total  # a stride coprime with the total visits each pair once
        yield FIRST_NAMES[k % len(FIRST_NAMES)], SURNAMES[k // len(FIRST_NAMES)]


def make_people(
    partnerships: list[Partnership],
    alliances: list[tuple[str, list[str], list[str], int, int]],
    schools: list[School],
) -> list[Person]:
    names = _names()

    def person(domain: str, job_title: str) -> Person:
        first, last = next(names)
        email = f"{first}.{last}@{domain}".lower()
        return Person(f"{first} {last}", email, job_title)

    people: list[Person] = []
    heads: dict[int, Person] = {}

    def head(school: School) -> Person:
        if school.urn not in heads:
            heads[school.urn] = person("schools.example.org", "Headteacher")
            heads[school.urn].roles.append(("head", "school", school.urn))
            people.append(heads[school.urn])
        return heads[school.urn]

    lead_of: dict[str, Person] = {}
    for p in partnerships:
        lead = head(next(s for s in p.schools if s.urn not in heads))
        lead.roles.append(("partnership_lead", "partnership", p.name))
        lead_of[p.name] = lead
    for quadrant in QUADRANTS:
        first = next(p for p in partnerships if p.quadrant == quadrant)
        lead_of[first.name].roles.append(("quadrant_chair", "quadrant", quadrant))
    # A few more serving heads, so a few dozen schools have one.
    for p in partnerships[:8]:
        head(next(s for s in p.schools if s.urn not in heads))

    for name, _quadrants, _tags, _days, lead_school in alliances:
        director = person("schools.example.org", f"Director, {name}")
        director.roles += [("alliance_lead", "alliance", name), ("staff", "school", lead_school)]
        people.append(director)

    la = "essex-la.example.org"
    for job_title in ("Director of Education (sample)", "LA lead for the SLIS (sample)"):
        officer = person(la, job_title)
        officer.roles += [("board_member", "county", None), ("la_officer", "county", None)]
        people.append(officer)
    for quadrant in QUADRANTS:
        spp = person(la, f"School Performance Partner, {quadrant}")
        spp.roles.append(("la_officer", "quadrant", quadrant))
        people.append(spp)
    associations = (("EPHA", True), ("ASHE", True), ("ESSET", False), ("ESGA", False))
    for association, on_board in associations:
        rep = person("associations.example.org", f"{association} representative")
        rep.roles.append(("association_rep", "county", None))
        if on_board:
            rep.roles.append(("board_member", "county", None))
        people.append(rep)
    board_head = next(iter(heads.values()))
    board_head.roles.append(("board_member", "county", None))

    for p in partnerships[:6]:
        governor = person("governors.example.org", "Chair of governors")
        governor.roles.append(("governor", "school", p.schools[-1].urn))
        people.append(governor)
    deputy = person("schools.example.org", "Deputy headteacher")
    deputy.roles.append(("staff", "school", partnerships[0].schools[0].urn))
    people.append(deputy)
    admin = person(la, "SLIS system administrator (sample)")
    admin.roles.append(("administrator", "county", None))
    people.append(admin)

    # Everyone has a sample Slack account in the sample workspace (the sandbox plays it), so
    # everyone can be reached from the start; the first ten, one for someone in each kind of
    # role, keep the ids they have always had.
    wanted = [
        "quadrant_chair", "partnership_lead", "head", "alliance_lead", "board_member",
        "la_officer", "association_rep", "governor", "staff", "administrator",
    ]  # fmt: skip
    with_chat: list[Person] = []
    for role in wanted:
        holder = next(
            p for p in people if p not in with_chat and any(r[0] == role for r in p.roles)
        )
        with_chat.append(holder)
    with_chat += [p for p in people if p not in with_chat]
    for n, holder in enumerate(with_chat, start=1):
        holder.chat = f"U0SAMPLE{n:02d}"
    return people


def render(
    partnerships: list[Partnership],
    alliances: list[tuple[str, list[str], list[str], int, int]],
    people: list[Person],
    schools: dict[int, School],
) -> str:
    out = [
        "# SAMPLE DATA — FICTIONAL.",
        "# Generated by scripts/make_sample_directory.py: edit that script, not this file.",
        "#",
        "# The schools are real Essex LA-maintained schools (URNs and names from",
        "# bot/data/essex_schools.csv, see bot/data/PROVENANCE.md), but the partnerships,",
        "# alliances, people, e-mail addresses and chat accounts below are made up for trying",
        "# the bot out. They do not describe any real partnership or person.",
        "",
        "tenant: {la_code: 881, name: Essex, timezone: Europe/London, day_rate: 450}",
        "",
        "workspaces:",
        f"  - {{platform: slack, id: {WORKSPACE}, name: {q('Essex SLIS (sample)')}}}",
        "",
        "quadrants:",
    ]
    for quadrant, districts in QUADRANTS.items():
        # Each quadrant has a channel in the sample workspace (the sandbox shows them).
        channel = "C0" + "".join(quadrant.upper().split()) + "Q"
        out.append(
            f"  - {{name: {q(quadrant)}, districts: [{', '.join(map(q, districts))}],"
            f" channel: {channel}}}"
        )
    out += ["", "partnerships:"]
    for p in partnerships:
        out += [f"  - name: {q(p.name)}", f"    kind: {p.kind}"]
        if p.quadrant is not None:
            out.append(f"    quadrant: {q(p.quadrant)}")
        out.append("    schools:")
        out += [f"      - {s.urn}  # {s.name}" for s in p.schools]
    out += ["", "alliances:"]
    for name, quadrants, tags, days, lead in alliances:
        out += [
            f"  - name: {q(name)}",
            f"    lead_school: {lead}  # {schools[lead].name}",
            f"    quadrants: [{', '.join(map(q, quadrants))}]",
            f"    expertise: [{', '.join(tags)}]",
            f"    capacity_days_per_term: {days}",
        ]
    out += ["", "people:"]
    for person in people:
        out += [
            f"  - name: {q(person.name)}",
            f"    email: {person.email}",
            f"    job_title: {q(person.job_title)}",
            "    roles:",
        ]
        for role, scope, value in person.roles:
            if scope == "county":
                out.append(f"      - {{role: {role}}}")
            elif scope == "school":
                assert isinstance(value, int)
                out.append(f"      - {{role: {role}, school: {value}}}  # {schools[value].name}")
            else:
                out.append(f"      - {{role: {role}, {scope}: {q(str(value))}}}")
        if person.chat:
            chat = f"{{platform: slack, workspace: {WORKSPACE}, user: {person.chat}}}"
            out.append(f"    chat: [{chat}]")
    return "\n".join(out) + "\n"


PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9 .'-]*[A-Za-z0-9.)]")


def q(text: str) -> str:
    """`text` as a YAML scalar that is safe inside flow collections."""
    if PLAIN.fullmatch(text) and text.lower() not in {"yes", "no", "on", "off", "true", "false"}:
        return text
    return json.dumps(text, ensure_ascii=False)


if __name__ == "__main__":
    main()
