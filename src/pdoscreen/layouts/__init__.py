"""Plate layouts: which drug, at which concentration, in which well.

:func:`read_layout` detects the kind of layout file from its content and
returns one row per well the layout names, with the columns ``well`` (``A01``),
``role`` (treated, vehicle, kill or empty), ``drug`` (``""`` where none),
``concentration`` (as written, NaN where none), ``unit`` (nM, uM, mM, M or
``""``) and ``concentration_molar``, sorted by row then column.

Kinds (one module each):

- ``wellmap``: wellmap TOML (:mod:`.wellmap_toml`);
- ``long``: a CSV/TSV with a header row naming ``well, role, drug,
  concentration, unit`` (:mod:`.long`);
- ``grid``: plater-style stacked plate-shaped grids, one per field (:mod:`.grid`);
- dispenser logs, which say what went into each well (:mod:`.dispense`):
  ``echo`` (Echo transfer reports with a source-plate map, :mod:`.echo`),
  ``d300`` (HP D300 dispense-report XML, :mod:`.d300`), ``d300e_csv``
  (Tecan D300e CSV export, :mod:`.d300e_csv`), ``hpdd`` (HP D300 protocol
  files, the plan rather than the log, :mod:`.hpdd`) and ``incucyte_platemap``
  (IncuCyte ``.PlateMap`` XML, :mod:`.incucyte_platemap`); the last four take
  an optional fluid map naming their controls (:class:`.source_map.FluidRoles`).
  Dispenser logs' wells may carry the flag
  ``dispense_failed`` with the instrument's message (columns ``flag`` and
  ``flag_message``, empty for the other kinds).

Adding a kind is one new module and one import line, nothing else:

1. write ``layouts/echo.py`` with ``sniff(text) -> bool`` (look at the decoded
   content, never the file name; it must not claim the other kinds' files) and
   ``records(path, text) -> list[dict]`` returning one dict per well with the
   key ``well`` and any of ``role``, ``drug``, ``concentration``, ``unit`` as
   raw text or numbers (see :class:`.common.LayoutKind`); a kind that needs
   sample-sheet settings (:class:`.common.Dispensing`) names them in
   ``settings`` and takes them as a third argument;
2. end it with ``register(LayoutKind("echo", sniff, records))``;
3. import the module below.

Validation, unit conversion, duplicate and plate-bounds checks all live in
:func:`.common.build_layout`, so a new kind gets them for free. If several
records of a log add to one well (e.g. two transfers), combine them in
``records`` (:func:`.dispense.well_records` does it for dispensers): a well
listed twice is an error.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..geometry import PlateGeometry
from ..textfiles import check_complete, read_text
from .common import COLUMNS, KINDS, Dispensing, LayoutKind, build_layout, register

# Importing a module registers its kind.
from . import d300, d300e_csv, echo, grid, hpdd, incucyte_platemap, long, wellmap_toml  # noqa: F401,E402

__all__ = ["COLUMNS", "KINDS", "Dispensing", "LayoutKind", "detect_layout", "read_layout", "register"]


def detect_layout(path: str | Path, text: str | None = None) -> str:
    """The name of the one layout kind that recognises this file's content."""
    path = Path(path)
    text = _decoded(path) if text is None else text
    matches = [name for name, kind in KINDS.items() if kind.sniff(text)]
    if not matches:
        survey = _echo_survey(text)
        if survey:
            raise InputError(
                f"not a layout: this is an Echo {survey}, the measured liquid volumes in a source plate's wells, "
                "not a transfer report; the layout of an Echo-dosed plate is the Echo transfer report "
                "(kind echo) with a source-plate map (sample-sheet column source_map)",
                file=path,
            )
        raise InputError(
            f"unknown layout format: no kind recognises this file's content (known kinds: {', '.join(sorted(KINDS))})",
            file=path,
        )
    if len(matches) > 1:
        raise InputError(
            f"ambiguous layout format: kinds {', '.join(matches)} all recognise it; name one with kind=",
            file=path,
        )
    return matches[0]


def read_layout(
    path: str | Path,
    geometry: PlateGeometry | None = None,
    *,
    kind: str = "auto",
    dispensing: Dispensing = Dispensing(),
) -> pd.DataFrame:
    """Read and validate a layout file; ``kind`` overrides content detection;
    ``dispensing`` holds the sample-sheet settings a dispenser log needs."""
    path = Path(path)
    text = _decoded(path)
    name = detect_layout(path, text) if kind == "auto" else kind
    if name not in KINDS:
        known = ", ".join(sorted(KINDS))
        raise InputError(f"unknown layout kind {name!r}; known kinds: auto, {known}", file=path)
    if not KINDS[name].checks_own_end:
        _check_end(path)
    unused = [setting for setting in dispensing.given() if setting not in KINDS[name].settings]
    if unused:
        raise InputError(
            f"sample-sheet setting(s) {', '.join(unused)} do not apply to a {name} layout; leave them empty",
            file=path,
        )
    arguments = (path, text, dispensing) if KINDS[name].settings else (path, text)
    try:
        records = KINDS[name].records(*arguments)
    except InputError:
        raise
    except Exception as error:  # a kind's parser meeting a file it cannot read
        raise InputError(f"cannot be read as a {name} layout: {type(error).__name__}: {error}", file=path) from error
    size = KINDS[name].size
    return build_layout(records, file=path, geometry=geometry, stated=size(text) if size else None)


# The root element of an XML file, past its declaration, comments and doctype.
_XML_ROOT = re.compile(r"\A\ufeff?\s*(?:<\?.*?\?>\s*|<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*<([A-Za-z_][\w.:-]*)", re.S)


def _echo_survey(text: str) -> str:
    """What kind of Echo survey the content is ("" if none): the native plate
    survey (root ``<platesurvey>`` with ``<w>`` wells) or an application's
    survey report (root ``<report>`` whose records hold ``<SurveyFluidVolume>``
    and no destination well, which a transfer report's records would)."""
    root = _XML_ROOT.match(text)
    if root is None:
        return ""
    if root.group(1) == "platesurvey" and re.search(r"<w[\s>]", text):
        return "plate survey (<platesurvey> XML)"
    if root.group(1) == "report" and "<SurveyFluidVolume" in text and "<DestWell" not in text:
        return "survey report (<report> XML with Survey Fluid Volume records)"
    return ""


def _check_end(path: Path) -> None:
    # A layout cut inside its last number (10 -> 1) would name another dose;
    # TOML writes "concentration = 10", hence "=" and spaces as separators too.
    check_complete(path, path.read_bytes(), separators=r"[\t,;=\s]")


def _decoded(path: Path) -> str:
    if not path.is_file():
        raise InputError("layout file not found", file=path)
    text = read_text(path)
    if not text.strip():
        raise InputError("the layout file is empty", file=path)
    return text
