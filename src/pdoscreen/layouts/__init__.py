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
- ``grid``: plater-style stacked plate-shaped grids, one per field (:mod:`.grid`).

Adding a kind (for example a dispenser log: an Echo transfer CSV or an HP D300
XML) is one new module and one import line, nothing else:

1. write ``layouts/echo.py`` with ``sniff(text) -> bool`` (look at the decoded
   content, never the file name; it must not claim the other kinds' files) and
   ``records(path, text) -> list[dict]`` returning one dict per well with the
   key ``well`` and any of ``role``, ``drug``, ``concentration``, ``unit`` as
   raw text or numbers (see :class:`.common.LayoutKind`);
2. end it with ``register(LayoutKind("echo", sniff, records))``;
3. import the module below.

Validation, unit conversion, duplicate and plate-bounds checks all live in
:func:`.common.build_layout`, so a new kind gets them for free. If several
records of a log add to one well (e.g. two transfers), combine them in
``records``: a well listed twice is an error.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..geometry import PlateGeometry
from ..readers.base import check_complete, read_text
from .common import COLUMNS, KINDS, LayoutKind, build_layout, register

# Importing a module registers its kind.
from . import grid, long, wellmap_toml  # noqa: F401,E402

__all__ = ["COLUMNS", "KINDS", "LayoutKind", "detect_layout", "read_layout", "register"]


def detect_layout(path: str | Path, text: str | None = None) -> str:
    """The name of the one layout kind that recognises this file's content."""
    path = Path(path)
    text = _text(path) if text is None else text
    matches = [name for name, kind in KINDS.items() if kind.sniff(text)]
    if not matches:
        raise InputError(
            "unknown layout format: no kind recognises this file's content "
            f"(known kinds: {', '.join(sorted(KINDS))})",
            file=path,
        )
    if len(matches) > 1:
        raise InputError(
            f"ambiguous layout format: kinds {', '.join(matches)} all recognise it; name one with kind=",
            file=path,
        )
    return matches[0]


def read_layout(
    path: str | Path, geometry: PlateGeometry | None = None, *, kind: str = "auto"
) -> pd.DataFrame:
    """Read and validate a layout file; ``kind`` overrides content detection."""
    path = Path(path)
    text = _text(path)
    name = detect_layout(path, text) if kind == "auto" else kind
    if name not in KINDS:
        known = ", ".join(sorted(KINDS))
        raise InputError(f"unknown layout kind {name!r}; known kinds: auto, {known}", file=path)
    try:
        records = KINDS[name].records(path, text)
    except InputError:
        raise
    except Exception as error:  # a kind's parser meeting a file it cannot read
        raise InputError(f"cannot be read as a {name} layout: {type(error).__name__}: {error}", file=path) from error
    size = KINDS[name].size
    return build_layout(records, file=path, geometry=geometry, stated=size(text) if size else None)


def _text(path: Path) -> str:
    if not path.is_file():
        raise InputError("layout file not found", file=path)
    # A layout cut inside its last number (10 -> 1) would name another dose;
    # TOML writes "concentration = 10", hence "=" and spaces as separators too.
    check_complete(path, path.read_bytes(), separators=r"[\t,;=\s]")
    text = read_text(path)
    if not text.strip():
        raise InputError("the layout file is empty", file=path)
    return text
