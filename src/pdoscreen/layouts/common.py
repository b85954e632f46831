"""What every layout kind shares: the kind registry, number and unit parsing,
and the validation that turns raw per-well records into the layout table.

A kind only has to say which wells it names and what it says about them (raw
text or numbers); every check and every conversion happens here, once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from ..errors import InputError
from ..geometry import PlateGeometry, geometry_fitting, geometry_for, parse_well, row_label, well_name
from ..textfiles import decimal_mark, guess_delimiter, number_style, split_rows

COLUMNS = ["well", "role", "drug", "concentration", "unit", "concentration_molar", "flag", "flag_message"]
FIELDS = ("role", "drug", "concentration", "unit")
ROLES = ("treated", "vehicle", "kill", "empty")
# Flags a layout may put on a well (the readers' flags say what the instrument
# saw; these say what the well was given). Any flag keeps the well out of fits.
LAYOUT_FLAGS = ("", "dispense_failed")

# Accepted spellings -> canonical unit. Deliberately exact (no case folding):
# "mM" is milli and "M" molar, and "nm" would be read as nanometres by some.
UNITS = {"nM": "nM", "uM": "uM", "\u00b5M": "uM", "\u03bcM": "uM", "mM": "mM", "M": "M"}
# Dividing by an exact power of ten keeps 10 uM at exactly 1e-05 M, which
# multiplying by 1e-6 would not.
PER_MOLAR = {"nM": 1e9, "uM": 1e6, "mM": 1e3, "M": 1.0}

_VALUE_UNIT_RE = re.compile(r"^\s*([+-]?[\d.,]+(?:[eE][+-]?\d+)?)\s*(\D.*?)?\s*$")

# Any layout that names no plate size must at least fit the largest plate.
_LARGEST = geometry_for(1536)


@dataclass(frozen=True)
class Dispensing:
    """What a dispenser log needs besides itself, from the sample sheet: which
    of its destination plates this plate is, the source-plate map, and the
    volume in the well before dispensing (µL)."""

    plate: str = ""
    source_map: Path | None = None
    assay_volume_ul: float | None = None

    def given(self) -> list[str]:
        """The sample-sheet columns that were filled in."""
        names = {"dispense_plate": self.plate, "source_map": self.source_map, "assay_volume_ul": self.assay_volume_ul}
        return [name for name, value in names.items() if not is_blank(value)]


@dataclass(frozen=True)
class LayoutKind:
    """One layout file format.

    ``sniff(text)`` says from the decoded content whether the file is of this
    kind; ``records(path, text)`` returns one dict per well the file names,
    with the key ``well`` plus any of :data:`FIELDS` (raw text or numbers,
    missing or empty where the file says nothing) and, optionally, ``line``
    (1-based) for error messages, ``flag`` (one of :data:`LAYOUT_FLAGS`) and
    ``flag_message``. A kind that reads sample-sheet settings (a dispenser
    log) names them in ``settings`` and takes a :class:`Dispensing` as a third
    argument of ``records``; other kinds are refused those settings.
    """

    name: str
    sniff: Callable[[str], bool]
    records: Callable[[Path, str], list[dict]]
    # The plate the file itself draws (a grid's rows and numbered columns);
    # without it a layout implies the smallest plate that holds its wells.
    size: Callable[[str], PlateGeometry | None] | None = None
    settings: tuple[str, ...] = ()
    # Kinds whose files may end without a line end check their own completeness.
    checks_own_end: bool = False


KINDS: dict[str, LayoutKind] = {}


def register(kind: LayoutKind) -> LayoutKind:
    if kind.name in KINDS:
        raise RuntimeError(f"layout kind {kind.name!r} registered twice")
    KINDS[kind.name] = kind
    return kind


def table_rows(text: str) -> list[tuple[int, list[str]]]:
    """Delimited text -> (1-based line, cells) for every line that is not blank
    or delimiters only. The delimiter is guessed from the first such line alone:
    decimal commas in the data would otherwise outvote a ``;`` separator."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    rows = split_rows(text, guess_delimiter(first))
    # csv yields one row per physical line here (layouts hold no quoted
    # newlines), so the index is the line number.
    return [(n, row) for n, row in enumerate(rows, start=1) if any(cell.strip() for cell in row)]


def is_blank(value: object) -> bool:
    """None, NaN (pandas' missing cell) or whitespace-only text."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and not value.strip()


def parse_number(
    value: object, *, file: Path, well: str | None = None, what: str = "concentration", mark: str | None = None
) -> float:
    """A number as a layout writes it: ``0.3``, ``0,3`` (decimal comma),
    ``7.53E+14``; blank -> NaN. ``mark`` is the file's decimal mark (see
    :func:`decimal_marks`): it settles ``1,000`` (one thousand or one) and
    allows thousands separators. Anything else is an error."""
    if is_blank(value):
        return math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip()
        style = number_style(text)
        if style == "ambiguous" and mark is None:
            raise InputError(
                f"{what} {text!r} could be {text.replace(',', '')} (thousands separator) or "
                f"{text.replace(',', '.')} (decimal comma), and no other number in the layout says which",
                file=file,
                well=well,
            )
        if style is None or style == "thousands" and mark != ".":
            raise InputError(f"{what} {value!r} is not a number", file=file, well=well)
        thousands = style == "thousands" or style == "ambiguous" and mark == "."
        number = float(text.replace(",", "") if thousands else text.replace(",", "."))
    if not math.isfinite(number):
        raise InputError(f"{what} {value!r} is not a finite number", file=file, well=well)
    return number


def decimal_marks(records: list[dict], *, file: Path) -> str | None:
    """The layout's one decimal mark, from how all its concentrations are written."""
    styles = set()
    for record in records:
        value = record.get("concentration")
        if isinstance(value, str):
            match = _VALUE_UNIT_RE.match(value)
            styles.add(number_style(match.group(1) if match else value.strip()))
    return decimal_mark(styles - {None}, file=file)


def parse_unit(value: object, *, file: Path, well: str | None = None) -> str:
    """A unit spelling -> ``nM``/``uM``/``mM``/``M``; blank -> ``""``."""
    if is_blank(value):
        return ""
    text = str(value).strip()
    if text not in UNITS:
        raise InputError(
            f"unknown concentration unit {text!r}; use one of nM, uM (or \u00b5M), mM, M",
            file=file,
            well=well,
        )
    return UNITS[text]


def parse_concentration(
    value: object, *, file: Path, well: str | None = None, mark: str | None = None
) -> tuple[float, str]:
    """A concentration cell that may carry its unit (``12.500000 μM``) ->
    (number, canonical unit or "")."""
    if isinstance(value, str):
        match = _VALUE_UNIT_RE.match(value)
        if match and match.group(2):
            number = parse_number(match.group(1), file=file, well=well, mark=mark)
            return number, parse_unit(match.group(2), file=file, well=well)
    return parse_number(value, file=file, well=well, mark=mark), ""


def locate_well(
    text: object, *, file: Path, geometry: PlateGeometry | None, line: int | None = None
) -> tuple[int, int]:
    """A well name as written -> 0-based (row, column), checked against the plate."""
    try:
        row, column = parse_well(str(text))
    except InputError as error:
        raise InputError(error.reason, file=file, well=str(text).strip(), line=line) from None
    plate = geometry or _LARGEST
    if not plate.contains(row, column):
        raise InputError(
            f"well outside the {plate.n_wells}-well plate", file=file, well=str(text).strip(), line=line
        )
    return row, column


def build_layout(
    records: list[dict], *, file: Path, geometry: PlateGeometry | None, stated: PlateGeometry | None = None
) -> pd.DataFrame:
    """Raw per-well records -> the validated layout table, sorted by row then column."""
    rows = {}
    mark = decimal_marks(records, file=file)
    for record in records:
        line = record.get("line")
        position = locate_well(record["well"], file=file, geometry=geometry, line=line)
        well = well_name(*position)
        if position in rows:
            raise InputError("the well is listed twice", file=file, well=well, line=line)
        try:
            rows[position] = _validated(record, well=well, file=file, mark=mark)
        except InputError as error:  # say where, whoever raised it
            raise InputError(error.reason, file=file, well=well, line=line) from None
    if not rows:
        raise InputError("the layout names no wells", file=file)
    if geometry is not None:
        _check_size(rows, geometry, file, stated)
    table = pd.DataFrame([rows[key] for key in sorted(rows)], columns=COLUMNS)
    return table.astype({"concentration": float, "concentration_molar": float})


def _check_size(rows: dict, geometry: PlateGeometry, file: Path, stated: PlateGeometry | None) -> None:
    """A layout states (a grid) or implies (the smallest plate that holds its
    wells) its plate size; a plate read of another size would put the layout in
    one corner of it."""
    last_row, last_column = max(r for r, _ in rows), max(c for _, c in rows)
    if stated is not None:
        layout = geometry_fitting(stated.n_rows, stated.n_columns)
        why = f"its grids have rows to {row_label(stated.n_rows - 1)} and columns to {stated.n_columns}"
    else:
        layout = geometry_fitting(last_row + 1, last_column + 1)
        why = (
            f"its wells go to row {row_label(last_row)} and column {last_column + 1}; a layout for "
            "a larger plate names at least one well beyond the smaller one (an empty well will do)"
        )
    if layout.n_wells != geometry.n_wells:
        raise InputError(
            f"the layout is for a {layout.n_wells}-well plate ({why}) but the plate read has "
            f"{geometry.n_wells} wells",
            file=file,
        )


def _validated(record: dict, *, well: str, file: Path, mark: str | None = None) -> dict:
    """One record's fields checked and converted; errors are located by the caller."""
    if is_blank(record.get("role")):
        raise InputError(f"no role given; give one of {', '.join(ROLES)}")
    role = str(record["role"]).strip().lower()
    if role not in ROLES:
        raise InputError(f"role {record['role']!r} is not one of {', '.join(ROLES)}")
    drug = "" if is_blank(record.get("drug")) else str(record["drug"]).strip()
    concentration, unit = parse_concentration(record.get("concentration"), file=file, well=well, mark=mark)
    written_unit = parse_unit(record.get("unit"), file=file, well=well)
    if unit and written_unit and unit != written_unit:
        raise InputError(f"the concentration says {unit} but the unit field says {written_unit}")
    unit = unit or written_unit
    if role == "treated" and not drug:
        raise InputError("a treated well needs a drug")
    if role == "treated" and math.isnan(concentration):
        raise InputError("a treated well needs a concentration")
    if concentration < 0:
        raise InputError(f"negative concentration {concentration:g}")
    if role == "treated" and concentration == 0:
        # log10(0) would reach the fit as -inf; an untreated well is a control.
        raise InputError("a treated well at concentration 0; write vehicle for an untreated well")
    if math.isnan(concentration):
        # A plate-wide unit (e.g. wellmap's [expt]) also reaches control wells
        # that have no concentration; there it means nothing.
        unit = ""
    elif not unit and role == "treated":
        raise InputError(f"concentration {concentration:g} has no unit")
    if unit:
        molar = concentration / PER_MOLAR[unit]
    else:
        # Zero is zero in every unit (LIMS write empty wells as "0.0" with no
        # unit); any other number without a unit, on a control, stays unknown.
        molar = 0.0 if concentration == 0 else math.nan
    flag = "" if is_blank(record.get("flag")) else str(record["flag"])
    if flag not in LAYOUT_FLAGS:
        raise InputError(f"layout flag {flag!r} is not one of {', '.join(f for f in LAYOUT_FLAGS if f)}")
    message = "" if is_blank(record.get("flag_message")) else str(record["flag_message"])
    return dict(
        well=well, role=role, drug=drug, concentration=concentration, unit=unit, concentration_molar=molar,
        flag=flag, flag_message=message,
    )
