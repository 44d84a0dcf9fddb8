"""A small known directory for the Slack tests: Essex (two quadrants) and a Suffolk neighbour."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import SQLModel, select

from storage.engine import Database
from storage.models import (
    Alliance,
    AllianceExpertise,
    AllianceQuadrant,
    ChatIdentity,
    ChatWorkspace,
    Partnership,
    PartnershipMembership,
    Person,
    Quadrant,
    RoleAssignment,
    School,
    Tenant,
)
from tests.factories import SEEDED_AT

ESSEX_TEAM = "T0ESSEX"
SUFFOLK_TEAM = "T0SUFFOLK"
UNMAPPED_TEAM = "T0NOWHERE"

HEAD = "U0HEAD"  # linked by the directory: head of Great Oakley
CHAIR = "U0CHAIR"  # linked: North East quadrant chair
UNA = "U0UNA"  # not linked; her Slack e-mail matches a person
STRANGER = "U0STRANGER"  # not linked; no person has her e-mail
SUFFOLK_HEAD = "U0SUFFOLK"  # linked in the Suffolk workspace

UNA_EMAIL = "una.linked@oakwood.essex.sch.uk"

GREAT_OAKLEY = 115141
OAKWOOD = 114880
COLNE = 115002
HARLOW = 115300
SUFFOLK_SCHOOL = 124567


@dataclass(frozen=True)
class Directory:
    essex_id: int
    suffolk_id: int
    people: dict[str, int]


def build_directory(db: Database) -> Directory:
    """Essex: quadrants North East and West, four schools, two partnerships, an alliance,
    a head, a chair, a partnership lead and an unlinked teacher. Suffolk: one school, one head."""
    with db.session() as s:
        essex = Tenant(name="Essex", la_code=881, created_at=SEEDED_AT)
        suffolk = Tenant(name="Suffolk", la_code=935, created_at=SEEDED_AT)
        s.add_all([essex, suffolk])
        s.flush()
        assert essex.id is not None and suffolk.id is not None
        e, k = essex.id, suffolk.id
        s.add_all(
            [
                ChatWorkspace(tenant_id=e, platform="slack", workspace_id=ESSEX_TEAM, name="Essex"),
                ChatWorkspace(tenant_id=k, platform="slack", workspace_id=SUFFOLK_TEAM),
            ]
        )
        north_east = Quadrant(tenant_id=e, name="North East")
        west = Quadrant(tenant_id=e, name="West")
        ipswich = Quadrant(tenant_id=k, name="Ipswich")
        s.add_all([north_east, west, ipswich])
        s.flush()

        def school(tenant: int, urn: int, name: str, quadrant: Quadrant, phase: str) -> School:
            row = School(
                tenant_id=tenant,
                urn=urn,
                name=name,
                phase=phase,
                establishment_type="Community school",
                quadrant_id=quadrant.id,
                updated_at=SEEDED_AT,
            )
            s.add(row)
            return row

        oakley = school(e, GREAT_OAKLEY, "Great Oakley Primary School", north_east, "Primary")
        oakwood = school(e, OAKWOOD, "Oakwood Infant School", north_east, "Primary")
        colne = school(e, COLNE, "Colne Community School", north_east, "Secondary")
        harlow = school(e, HARLOW, "Harlow Fields School", west, "Secondary")
        school(k, SUFFOLK_SCHOOL, "Ipswich Oak Primary", ipswich, "Primary")
        s.flush()

        colne_valley = Partnership(
            tenant_id=e,
            name="Colne Valley Partnership",
            kind="slis_cluster",
            quadrant_id=north_east.id,
        )
        harlow_group = Partnership(
            tenant_id=e, name="Harlow Collaborative", kind="ashe_group", quadrant_id=west.id
        )
        s.add_all([colne_valley, harlow_group])
        s.flush()
        for partnership, member in [
            (colne_valley, oakley),
            (colne_valley, oakwood),
            (colne_valley, colne),
            (harlow_group, harlow),
        ]:
            assert partnership.id is not None and member.id is not None
            s.add(
                PartnershipMembership(
                    tenant_id=e, partnership_id=partnership.id, school_id=member.id
                )
            )
        alliance = Alliance(
            tenant_id=e,
            name="Tendring Teaching School Alliance",
            lead_school_id=colne.id,
            capacity_days_per_term=20,
        )
        s.add(alliance)
        s.flush()
        assert alliance.id is not None and north_east.id is not None
        s.add(AllianceQuadrant(tenant_id=e, alliance_id=alliance.id, quadrant_id=north_east.id))
        s.add(AllianceExpertise(tenant_id=e, alliance_id=alliance.id, tag="early_reading"))

        people = {
            "head": Person(tenant_id=e, name="Alice Hart", email="head@greatoakley.essex.sch.uk"),
            "chair": Person(tenant_id=e, name="Chris Chalk", email="chair@colne.essex.sch.uk"),
            "lead": Person(tenant_id=e, name="Pat Lee", email="lead@oakwood.essex.sch.uk"),
            "una": Person(tenant_id=e, name="Una Linked", email=UNA_EMAIL),
            "suffolk": Person(tenant_id=k, name="Sam Suffolk", email="head@ipswichoak.sch.uk"),
        }
        s.add_all(people.values())
        s.flush()
        ids = {key: p.id for key, p in people.items()}
        assert all(i is not None for i in ids.values())

        def role(tenant: int, who: str, name: str, kind: str, scope: int | None) -> None:
            person = ids[who]
            assert person is not None and scope is not None
            s.add(
                RoleAssignment(
                    tenant_id=tenant, person_id=person, role=name, scope_kind=kind, scope_id=scope
                )
            )

        role(e, "head", "head", "school", oakley.id)
        role(e, "chair", "quadrant_chair", "quadrant", north_east.id)
        role(e, "chair", "head", "school", colne.id)
        role(e, "lead", "partnership_lead", "partnership", colne_valley.id)
        role(e, "una", "staff", "school", oakwood.id)
        role(
            k,
            "suffolk",
            "head",
            "school",
            s.exec(select(School.id).where(School.urn == SUFFOLK_SCHOOL)).one(),
        )

        for tenant, who, team, user in [
            (e, "head", ESSEX_TEAM, HEAD),
            (e, "chair", ESSEX_TEAM, CHAIR),
            (k, "suffolk", SUFFOLK_TEAM, SUFFOLK_HEAD),
        ]:
            person = ids[who]
            assert person is not None
            s.add(
                ChatIdentity(
                    tenant_id=tenant,
                    person_id=person,
                    platform="slack",
                    workspace_id=team,
                    user_id=user,
                    source="directory",
                    linked_at=SEEDED_AT,
                )
            )
    return Directory(e, k, {key: i for key, i in ids.items() if i is not None})


def row_counts(db: Database) -> dict[str, int]:
    """How many rows every table holds, to prove a request changed nothing."""
    with db.session() as s:
        return {
            table.name: s.exec(select(func.count()).select_from(table)).one()
            for table in SQLModel.metadata.sorted_tables
        }
