"""Reading an establishment extract from the national register (GIAS) into checked rows."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import InvalidImport

URN = "URN"
NAME = "EstablishmentName"
LA_CODE = "LA (code)"
PHASE = "PhaseOfEducation (name)"
TYPE = "TypeOfEstablishment (name)"
GROUP = "EstablishmentTypeGroup (name)"
STATUS = "EstablishmentStatus (name)"
DISTRICT = "DistrictAdministrative (name)"

REQUIRED_COLUMNS = (URN, NAME, LA_CODE)

# The widths of the School columns these values land in.
MAX_LENGTHS = {NAME: 300, PHASE: 100, TYPE: 200, GROUP: 200, STATUS: 100}


@dataclass(frozen=True)
class Establishment:
    """One establishment of the wanted local authority; None where the extract has no column."""

    line: int
    urn: int
    name: str
    phase: str | None
    establishment_type: str | None
    establishment_group: str | None
    status: str
    district: str | None


@dataclass
class Extract:
    """The wanted local authority's rows, how many rows belonged to others, and the bad rows."""

    establishments: list[Establishment] = field(default_factory=list)
    other_la_rows: int = 0
    problems: list[str] = field(default_factory=list)


def read_extract(path: Path, la_code: int) -> Extract:
    """Read a GIAS CSV, keeping the rows of LA `la_code`; a missing column stops the import."""
    reader = csv.reader(io.StringIO(decode(path), newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise InvalidImport(
            path.name, ["line 1: the file is empty; expected a GIAS header"]
        ) from None
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        raise InvalidImport(path.name, [f"line 1: missing column(s) {names}"])
    columns = {name: index for index, name in reversed(list(enumerate(header)))}
    extract = Extract()
    first_line: dict[int, int] = {}
    previous_line = reader.line_num
    for row in reader:
        # A quoted field may span lines: a record starts just after the previous one ended.
        line, previous_line = previous_line + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            extract.problems.append(
                f"line {line}: {len(row)} fields where the header has {len(header)}"
            )
            continue
        values = {name: row[index].strip() for name, index in columns.items()}
        try:
            row_la = int(values[LA_CODE])
        except ValueError:
            extract.problems.append(f"line {line}: LA (code) {values[LA_CODE]!r} is not a number")
            continue
        if row_la != la_code:
            extract.other_la_rows += 1
            continue
        problem = _row_problem(values)
        if problem is None:
            urn = int(values[URN])
            if urn in first_line:
                problem = f"URN {urn} is also on line {first_line[urn]}"
            else:
                first_line[urn] = line
        if problem is not None:
            extract.problems.append(f"line {line}: {problem}")
            continue
        extract.establishments.append(
            Establishment(
                line=line,
                urn=int(values[URN]),
                name=values[NAME],
                phase=values.get(PHASE),
                establishment_type=values.get(TYPE),
                establishment_group=values.get(GROUP),
                status=values.get(STATUS) or "Open",
                district=values.get(DISTRICT),
            )
        )
    return extract


def decode(path: Path) -> str:
    """The file's text: UTF-8 (with or without BOM) or, as real GIAS downloads are, cp1252."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise InvalidImport(
            path.name, [f"byte {exc.start}: the file is neither UTF-8 nor Windows-1252 text"]
        ) from None


def _row_problem(values: dict[str, str]) -> str | None:
    if not (values[URN].isascii() and values[URN].isdecimal()) or int(values[URN]) <= 0:
        return f"URN {values[URN]!r} is not a positive whole number"
    if not values[NAME]:
        return f"URN {values[URN]} has no {NAME}"
    for column, width in MAX_LENGTHS.items():
        if len(values.get(column, "")) > width:
            return f"URN {values[URN]}: {column} is longer than {width} characters"
    return None
