"""wellmap TOML layouts (``[row.A]``, ``[col.3]``, ``[block.2x3.B2]``, ``[well.C5]``...),
expanded by the ``wellmap`` package; field names are case-insensitive."""

from __future__ import annotations

import tomllib
from pathlib import Path

from ..errors import InputError
from .common import FIELDS, LayoutKind, register


def sniff(text: str) -> bool:
    # CSV headers and grids are never valid TOML, so parsing is a safe test.
    try:
        return bool(tomllib.loads(text))
    except tomllib.TOMLDecodeError:
        return False


def records(path: Path, text: str) -> list[dict]:
    import wellmap

    try:
        table = wellmap.load(path)
    except wellmap.LayoutError as error:
        raise InputError(f"wellmap cannot read the layout: {error}", file=path) from None
    except (OSError, ValueError) as error:  # an include that is missing or no TOML
        raise InputError(
            f"wellmap cannot read the layout or a file it includes: {type(error).__name__}: {error}",
            file=path,
        ) from None
    if "plate" in table.columns and table["plate"].nunique() > 1:
        raise InputError("the layout describes several plates; give one layout per plate", file=path)
    fields = {}
    for column in table.columns:
        if column.lower() in FIELDS:
            if column.lower() in fields:
                raise InputError(f"field {column!r} is given twice (names are case-insensitive)", file=path)
            fields[column.lower()] = column
    return [
        {"well": row["well"]} | {field: row[column] for field, column in fields.items()}
        for _, row in table.iterrows()
    ]


register(LayoutKind("wellmap", sniff, records))
