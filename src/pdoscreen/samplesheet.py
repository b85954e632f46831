"""The plate sample sheet: reading, typing and the checks a schema cannot make."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import pandas as pd

from .errors import InputError
from .readers import REGISTRY, TIME_COURSE_REGISTRY
from .readers.base import decode

log = logging.getLogger(__name__)

REQUIRED = ["plate", "patient", "line", "file", "reader", "layout"]
OPTIONAL_TEXT = ["batch", "lot", "measurement", "exclude", "dispense_plate", "source_map"]


def read_sample_sheet(path: str | Path) -> pd.DataFrame:
    """The sheet as typed columns: text stays text ("007" is not 7), empty cells
    are empty strings, ``replicate``, ``timepoint_h``, ``drug_added_h`` and
    ``assay_volume_ul`` are numbers (NaN if absent)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("sample sheet not found", file=path)
    try:
        # Decoded as the readers do: UTF-8 (BOM or not), UTF-16, else Latin-1
        # (a sheet saved by Excel on Windows).
        text = decode(path.read_bytes())
        _check_widths(text, path)
        with warnings.catch_warnings():  # cells past the header: all empty, checked above
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            sheet = pd.read_csv(
                io.StringIO(text), sep="\t", dtype=str, keep_default_na=False, comment="#", index_col=False
            )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise InputError(f"cannot be read as a tab-separated sample sheet: {error}", file=path) from None
    sheet.columns = [c.strip() for c in sheet.columns]
    missing = [c for c in REQUIRED if c not in sheet.columns]
    if missing:
        raise InputError(
            f"sample sheet lacks required column(s) {', '.join(missing)} "
            f"(found: {', '.join(sheet.columns)}); is it tab-separated?",
            file=path,
        )
    if sheet.empty:
        raise InputError("the sample sheet lists no plates: it has a header but no rows", file=path)
    sheet = sheet.apply(lambda column: column.str.strip())
    for column in OPTIONAL_TEXT:
        if column not in sheet.columns:
            sheet[column] = ""
    for column in ["replicate", "timepoint_h", "drug_added_h", "assay_volume_ul"]:
        sheet[column] = _numbers(sheet, column, path)
    return sheet


def _check_widths(text: str, path: Path) -> None:
    """A line with more cells than the header would shift its row's columns."""
    lines = [(n, line.split("\t")) for n, line in enumerate(text.split("\n"), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    width = len(lines[0][1]) if lines else 0
    for number, cells in lines[1:]:
        if any(cell.strip() for cell in cells[width:]):
            raise InputError(
                f"cannot be read as a tab-separated sample sheet: {len(cells)} cells under a "
                f"{width}-column header",
                file=path,
                line=number,
            )


def _numbers(sheet: pd.DataFrame, column: str, path: Path) -> pd.Series:
    if column not in sheet.columns:
        return pd.Series(float("nan"), index=sheet.index)
    values = pd.to_numeric(sheet[column].replace("", None), errors="coerce")
    bad = values.isna() & (sheet[column] != "")
    if bad.any():
        row = sheet[bad].iloc[0]
        raise InputError(
            f"column {column} must be a number, got {row[column]!r}", file=path, plate=row["plate"]
        )
    return values


def check_sample_sheet(sheet: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """Checks across rows and on disk; returns the sheet with absolute
    ``file_path``, ``layout_path`` and ``source_map_path`` ("" where none) columns."""
    path = Path(path)
    duplicated = sheet["plate"][sheet["plate"].duplicated()].unique()
    if len(duplicated):
        raise InputError(
            f"duplicate plate id(s) {', '.join(duplicated)}: each plate read needs its own id",
            file=path,
        )
    _check_time_zero_plates(sheet, path)
    base = path.resolve().parent
    sheet = sheet.copy()
    sheet["file_path"] = [str(base / f) for f in sheet["file"]]
    sheet["layout_path"] = [str(base / f) for f in sheet["layout"]]
    sheet["source_map_path"] = [str(base / f) if f else "" for f in sheet["source_map"]]
    # Two plates from one read of one file would carry identical signals.
    for (_, measurement), same in sheet.groupby(["file_path", "measurement"]):
        if len(same) > 1:
            log.warning(
                "plates %s are all read from %s%s: they will have identical signals",
                ", ".join(same["plate"]), same["file"].iloc[0],
                f" (measurement {measurement!r})" if measurement else "",
            )
    for row in sheet.itertuples():
        if row.reader != "auto" and row.reader not in REGISTRY | TIME_COURSE_REGISTRY:
            raise InputError(
                f"unknown reader {row.reader!r}; use auto or one of {', '.join(sorted(REGISTRY))}, "
                f"or for a time course {', '.join(sorted(TIME_COURSE_REGISTRY))}",
                file=path,
                plate=row.plate,
            )
        targets = {"plate-reader file": row.file_path, "layout": row.layout_path, "source map": row.source_map_path}
        for what, target in targets.items():
            if target and not Path(target).is_file():
                raise InputError(f"{what} {target} not found", file=path, plate=row.plate)
    return sheet


def _check_time_zero_plates(sheet: pd.DataFrame, path: Path) -> None:
    """A time-zero plate is the starting level of its line's GR values, so its
    line needs a plate read later; without one it is most likely a mistyped
    line or time point, and would be read for nothing."""
    later = set(sheet.loc[sheet["timepoint_h"] > 0, "line"])
    unmatched = sheet[(sheet["timepoint_h"] == 0) & ~sheet["line"].isin(later)]
    if len(unmatched):
        raise InputError(
            f"time-zero plate(s) {', '.join(unmatched['plate'])} (timepoint_h 0) of line(s) "
            f"{', '.join(unmatched['line'].unique())}, which have no plate read later (timepoint_h above 0) "
            "for their GR values",
            file=path,
            plate=unmatched["plate"].iloc[0],
        )


def load_sample_sheet(path: str | Path) -> pd.DataFrame:
    """Read and check a sample sheet (schema validation happens in the workflow)."""
    return check_sample_sheet(read_sample_sheet(path), path)
