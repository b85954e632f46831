"""The plate sample sheet: reading, typing and the checks a schema cannot make."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .errors import InputError
from .readers import REGISTRY

REQUIRED = ["plate", "patient", "line", "file", "reader", "layout"]
OPTIONAL_TEXT = ["batch", "lot", "measurement", "exclude"]


def read_sample_sheet(path: str | Path) -> pd.DataFrame:
    """The sheet as typed columns: text stays text ("007" is not 7), empty cells
    are empty strings, ``replicate`` and ``timepoint_h`` are numbers (NaN if absent)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("sample sheet not found", file=path)
    sheet = pd.read_csv(
        path, sep="\t", dtype=str, keep_default_na=False, comment="#", encoding="utf-8-sig"
    )
    sheet.columns = [c.strip() for c in sheet.columns]
    missing = [c for c in REQUIRED if c not in sheet.columns]
    if missing:
        raise InputError(
            f"sample sheet lacks required column(s) {', '.join(missing)} "
            f"(found: {', '.join(sheet.columns)}); is it tab-separated?",
            file=path,
        )
    sheet = sheet.apply(lambda column: column.str.strip())
    for column in OPTIONAL_TEXT:
        if column not in sheet.columns:
            sheet[column] = ""
    for column in ["replicate", "timepoint_h"]:
        sheet[column] = _numbers(sheet, column, path)
    return sheet


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
    ``file_path`` and ``layout_path`` columns."""
    path = Path(path)
    duplicated = sheet["plate"][sheet["plate"].duplicated()].unique()
    if len(duplicated):
        raise InputError(
            f"duplicate plate id(s) {', '.join(duplicated)}: each plate read needs its own id",
            file=path,
        )
    base = path.resolve().parent
    sheet = sheet.copy()
    sheet["file_path"] = [str(base / f) for f in sheet["file"]]
    sheet["layout_path"] = [str(base / f) for f in sheet["layout"]]
    for row in sheet.itertuples():
        if row.reader != "auto" and row.reader not in REGISTRY:
            raise InputError(
                f"unknown reader {row.reader!r}; use auto or one of {', '.join(sorted(REGISTRY))}",
                file=path,
                plate=row.plate,
            )
        for what, target in (("plate-reader file", row.file_path), ("layout", row.layout_path)):
            if not Path(target).is_file():
                raise InputError(f"{what} {target} not found", file=path, plate=row.plate)
    return sheet


def load_sample_sheet(path: str | Path) -> pd.DataFrame:
    """Read and check a sample sheet (schema validation happens in the workflow)."""
    return check_sample_sheet(read_sample_sheet(path), path)
