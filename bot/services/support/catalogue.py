"""The catalogue of support: what a school may ask for, and who can provide it.

A YAML file an administrator can write (the shipped one is `bot/data/support/catalogue.yaml`):

    categories:
      - id: governance_review          # a slug; requests store it
        label: Review of governance
        description: ...               # optional
        tags: [governance]             # alliance expertise tags that can serve it; may be empty
        route: traded                  # traded (offered to alliances) | la (sent to the LA)
        default_days: 2                # optional: a rough estimate, in half days or whole days

Loading checks every rule and names every problem with its line; a bad file loads nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, ValidationError, ValidationInfo, model_validator

from bot.errors import InvalidImport
from bot.services.directory_file import EXPERTISE_TAGS, LineIndex, Loc, read_marked_yaml, render_loc
from bot.services.healthcheck.templates import Label, Prose, Slug, Spec
from storage.engine import Database
from storage.models import Tenant

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "support" / "catalogue.yaml"

Route = Literal["traded", "la"]
Days = Annotated[Decimal, Field(gt=0, le=100, multiple_of=Decimal("0.5"))]

# Validation context that leaves the rules across categories to `load_catalogue`, which can say
# on which line each problem is.
_LOCATED_RULES = "located_rules"


class CatalogueError(InvalidImport):
    """A catalogue file is not valid; each problem names its line and the rule broken."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(source, problems)
        self.args = (f"{source}: {len(problems)} problem(s) in the support catalogue",)


class Category(Spec):
    """A kind of support a school may ask for, and the expertise that can provide it."""

    id: Slug
    label: Label
    description: Prose | None = None
    tags: tuple[Slug, ...] = ()
    route: Route = "traded"
    default_days: Days | None = None

    @property
    def traded(self) -> bool:
        """Whether requests are offered to alliances (rather than sent to the LA)."""
        return self.route == "traded"


class Catalogue(Spec):
    """Every category a tenant offers, in the order a form lists them."""

    categories: Annotated[tuple[Category, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Self:
        if not (info.context or {}).get(_LOCATED_RULES):
            traded = any(c.traded for c in self.categories)
            problems = _rule_problems(list(enumerate(self.categories)), any_traded=traded)
            if problems:
                raise ValueError("; ".join(f"{render_loc(loc)}: {text}" for loc, text in problems))
        return self

    def category(self, category_id: str) -> Category:
        """The category with this id; KeyError naming the known ids if there is none."""
        for category in self.categories:
            if category.id == category_id:
                return category
        known = ", ".join(c.id for c in self.categories)
        raise KeyError(f"no support category {category_id!r}; the catalogue has {known}")

    def traded(self) -> tuple[Category, ...]:
        """The categories offered to alliances, in catalogue order."""
        return tuple(c for c in self.categories if c.traded)

    def for_tag(self, tag: str) -> tuple[Category, ...]:
        """The categories an alliance with expertise `tag` can serve, in catalogue order."""
        return tuple(c for c in self.categories if tag in c.tags)


def load_catalogue(path: Path) -> Catalogue:
    """Read and check a catalogue file; CatalogueError lists every problem with its line."""
    data, lines, problems = read_marked_yaml(path, error=CatalogueError)
    if not isinstance(data, dict):
        problems.append(((), "a catalogue is a mapping with a `categories` list"))
        raise CatalogueError(path.name, _problem_lines(lines, problems))
    catalogue: Catalogue | None = None
    try:
        catalogue = Catalogue.model_validate(data, context={_LOCATED_RULES: True})
    except ValidationError as exc:
        problems.extend(_shape_problems(exc))
    raw = data.get("categories")
    raw_list: list[object] = raw if isinstance(raw, list) else []
    # A category with other problems still counts as traded unless it says otherwise, so that
    # "nothing is traded" is said only when it is true.
    any_traded = not raw_list or any(_maybe_traded(entry) for entry in raw_list)
    if catalogue is not None:
        problems.extend(
            _rule_problems(list(enumerate(catalogue.categories)), any_traded=any_traded)
        )
    else:
        # Check the rules over the categories that have the right shape too, so one pass
        # through the file reports everything it can.
        valid = list(_valid_categories(raw_list))
        problems.extend(_rule_problems(valid, any_traded=any_traded))
    if problems:
        raise CatalogueError(path.name, _problem_lines(lines, problems))
    assert catalogue is not None
    return catalogue


def shipped_catalogue() -> Catalogue:
    """The catalogue that comes with the bot (read once)."""
    return _shipped()


@functools.cache
def _shipped() -> Catalogue:
    return load_catalogue(SHIPPED)


# --- the rules the categories keep together -----------------------------------------------


def _rule_problems(
    categories: list[tuple[int, Category]], *, any_traded: bool
) -> list[tuple[Loc, str]]:
    """Duplicate ids and tags, tags no alliance can have, LA routes with tags, nothing traded."""
    problems: list[tuple[Loc, str]] = []
    first: dict[str, int] = {}
    for n, category in categories:
        at: Loc = ("categories", n)
        if category.id in first:
            where = render_loc(("categories", first[category.id], "id"))
            problems.append(
                ((*at, "id"), f"duplicate category id {category.id!r} (first at {where})")
            )
        else:
            first[category.id] = n
        seen: set[str] = set()
        for t, tag in enumerate(category.tags):
            if tag in seen:
                problems.append(((*at, "tags", t), f"tag {tag!r} is given twice"))
            elif tag not in EXPERTISE_TAGS:
                problems.append(
                    (
                        (*at, "tags", t),
                        f"unknown expertise tag {tag!r}; alliances' tags are "
                        + ", ".join(sorted(EXPERTISE_TAGS)),
                    )
                )
            seen.add(tag)
        if category.route == "la" and category.tags:
            problems.append(
                (
                    (*at, "tags"),
                    "a category routed to the LA is not offered to alliances, so it takes no tags",
                )
            )
    if not any_traded:
        problems.append((("categories",), "at least one category must be traded (route: traded)"))
    return problems


# --- reading the file ---------------------------------------------------------------------


def _maybe_traded(raw: object) -> bool:
    """Whether a raw category entry is, or might be once fixed, traded."""
    return not isinstance(raw, dict) or raw.get("route") != "la"


def _valid_categories(raw: Iterable[object]) -> Iterable[tuple[int, Category]]:
    for index, value in enumerate(raw):
        try:
            yield index, Category.model_validate(value)
        except ValidationError:
            continue


def _shape_problems(exc: ValidationError) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    for error in exc.errors(include_url=False):
        kind = error["type"]
        if kind == "too_short":
            given = error.get("input")
            wanted = (error.get("ctx") or {}).get("min_length", 0)
            if isinstance(given, list | tuple) and len(given) >= wanted:
                continue  # some categories failed their own checks, which are reported already
            message = "list at least one category"
        elif kind == "missing":
            message = "is missing"
        elif kind == "extra_forbidden":
            message = "unknown key (check its spelling)"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
        problems.append((tuple(error["loc"]), message))
    return problems


def _problem_lines(lines: LineIndex, problems: list[tuple[Loc, str]]) -> list[str]:
    located = sorted((lines.line(loc), render_loc(loc), text) for loc, text in problems)
    return [f"line {n} ({where}): {text}" for n, where, text in located]


class Catalogues:
    """Each tenant's catalogue: `<directory>/<la_code>.yaml` where there is one, else the
    shipped catalogue. Files are read once and checked when first used."""

    def __init__(self, db: Database, directory: Path | None = None) -> None:
        self._db = db
        self._directory = directory
        self._cache: dict[int, Catalogue] = {}

    def __call__(self, tenant_id: int) -> Catalogue:
        found = self._cache.get(tenant_id)
        if found is None:
            found = self._load(tenant_id)
            self._cache[tenant_id] = found
        return found

    def check(self) -> list[Path]:
        """Load every tenant file in the directory now (CatalogueError on the first bad one);
        the files found."""
        if self._directory is None:
            return []
        files = sorted(self._directory.glob("*.yaml"))
        for path in files:
            load_catalogue(path)
        return files

    def _load(self, tenant_id: int) -> Catalogue:
        if self._directory is not None:
            with self._db.session() as s:
                tenant = s.get(Tenant, tenant_id)
            if tenant is not None:
                path = self._directory / f"{tenant.la_code}.yaml"
                if path.is_file():
                    return load_catalogue(path)
        return shipped_catalogue()
