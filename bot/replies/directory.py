"""How directory lookups read in chat."""

from __future__ import annotations

from collections.abc import Sequence

from bot.services.directory import (
    AllianceRef,
    HomeView,
    PartnershipView,
    QuadrantView,
    SchoolMatches,
    SchoolView,
)
from bot.types import (
    Actor,
    Block,
    BulletList,
    Context,
    Divider,
    Fields,
    Heading,
    Paragraph,
    Reply,
)

NOBODY = "not recorded"
MAX_LISTED_SCHOOLS = 30


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(names) if names else NOBODY


def _alliance_lines(alliances: tuple[AllianceRef, ...]) -> tuple[str, ...]:
    lines = []
    for a in alliances:
        lead = f" (lead school: {a.lead_school})" if a.lead_school else ""
        offers = f" — {', '.join(t.replace('_', ' ') for t in a.expertise)}" if a.expertise else ""
        lines.append(f"*{a.name}*{lead}{offers}")
    return tuple(lines)


def school(view: SchoolView) -> Reply:
    blocks: list[Block] = [
        Heading(view.name),
        Fields(
            (
                ("URN", str(view.urn)),
                ("Phase", view.phase or NOBODY),
                ("Type", view.establishment_type or NOBODY),
                ("Status", view.status),
                ("Headteacher", _names(view.heads)),
                ("Quadrant", view.quadrant or NOBODY),
            )
        ),
    ]
    if view.partnerships:
        blocks.append(BulletList(view.partnerships, title="Partnerships"))
    else:
        blocks.append(Paragraph("*Partnerships:* none recorded — every school should be in one."))
    if view.quadrant:
        blocks.append(Paragraph(f"*{view.quadrant} quadrant chair:* {view.chair or NOBODY}"))
    if view.alliances:
        blocks.append(BulletList(_alliance_lines(view.alliances), title="Alliances serving it"))
    return Reply(f"{view.name} (URN {view.urn})", tuple(blocks))


def school_matches(matches: SchoolMatches) -> Reply:
    shown = tuple(f"{s.name} — URN {s.urn}" for s in matches.schools)
    more = matches.total - len(shown)
    blocks: list[Block] = [
        Paragraph(f"{matches.total} schools match “{matches.query}”. Which one?"),
        BulletList(shown),
    ]
    blocks.append(
        Context(
            (f"…and {more} more. " if more > 0 else "")
            + "Ask again with the URN, e.g. `/slis school "
            + str(matches.schools[0].urn)
            + "`."
        )
    )
    return Reply(f"{matches.total} schools match “{matches.query}”", tuple(blocks))


def partnership(view: PartnershipView) -> Reply:
    schools = tuple(f"{s.name} — URN {s.urn}" for s in view.schools[:MAX_LISTED_SCHOOLS])
    blocks: list[Block] = [
        Heading(view.name),
        Fields(
            (
                ("Kind", view.kind),
                ("Quadrant", view.quadrant or NOBODY),
                ("Lead", _names(view.leads)),
                ("Quadrant chair", view.chair or NOBODY),
            )
        ),
        BulletList(
            schools or ("no member schools recorded",),
            title=f"Member schools ({len(view.schools)})",
        ),
    ]
    if len(view.schools) > MAX_LISTED_SCHOOLS:
        blocks.append(Context(f"…and {len(view.schools) - MAX_LISTED_SCHOOLS} more."))
    return Reply(f"{view.name}: {len(view.schools)} schools", tuple(blocks))


def quadrant(view: QuadrantView) -> Reply:
    partnerships = tuple(
        f"*{p.name}* — {p.school_count} schools, lead {_names(p.leads)}" for p in view.partnerships
    )
    blocks: list[Block] = [
        Heading(f"{view.name} quadrant"),
        Fields(
            (
                ("Chair", view.chair or NOBODY),
                ("Schools", str(view.school_count)),
                ("Partnerships", str(len(view.partnerships))),
                ("Alliances", str(len(view.alliances))),
            )
        ),
        BulletList(partnerships or ("none recorded",), title="Partnerships"),
        BulletList(
            _alliance_lines(view.alliances) or ("none recorded",),
            title="Teaching School Alliances serving it",
        ),
    ]
    return Reply(f"{view.name} quadrant: chair {view.chair or NOBODY}", tuple(blocks))


def whoami(actor: Actor) -> Reply:
    grants = tuple(g.describe() for g in actor.grants)
    blocks: list[Block] = [
        Paragraph(f"You are *{actor.name}* in the {actor.tenant_name} directory."),
        BulletList(grants or ("no roles yet — ask your LA administrator",), title="Your roles"),
        Context("Roles decide which commands you can use: try `/slis help`."),
    ]
    return Reply(f"You are {actor.name}", tuple(blocks))


def home(view: HomeView, usable: Sequence[tuple[str, str]] = ()) -> Reply:
    """The App Home; `usable`: the commands (name, summary) the person's roles allow, as the
    authorisation table says."""
    blocks: list[Block] = [Heading(f"{view.tenant} school-led improvement system")]
    if not (view.schools or view.partnerships or view.quadrants):
        blocks.append(
            Paragraph(
                f"Hello {view.name}. You hold no school, partnership or quadrant role yet,"
                " so there is nothing local to show. Try `/slis quadrant <name>`."
            )
        )
    for s in view.schools:
        blocks += [Divider(), *school(s).blocks]
    for p in view.partnerships:
        leads = _names(p.leads)
        blocks += [
            Divider(),
            Paragraph(f"*{p.name}* ({p.kind}) — {len(p.schools)} schools, lead {leads}"),
        ]
    for q in view.quadrants:
        alliances = _alliance_lines(q.alliances) or ("none recorded",)
        blocks += [
            Divider(),
            Paragraph(f"*{q.name} quadrant* — chair {q.chair or NOBODY}"),
            BulletList(alliances, title="Alliances serving it"),
        ]
    if usable:
        lines = tuple(f"`/slis {name}` — {summary}" for name, summary in usable)
        blocks += [Divider(), BulletList(lines, title="What you can do")]
    blocks.append(Context("Type `/slis help` in any channel to see what you can do."))
    return Reply(f"Home for {view.name}", tuple(blocks), private=True)
