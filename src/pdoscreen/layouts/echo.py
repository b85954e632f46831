"""Echo transfer reports (Echo Plate Reformat and Echo Cherry Pick CSV) as layouts.

The report lists transfers in a ``[DETAILS]`` section and failed or partial
ones in ``[EXCEPTIONS]``, each under its own header row and ended by a blank
line; a key-value header and an instrument footer surround them. Volumes are
nL. With the source-plate map (:mod:`.source_map`) and the assay volume from
the sample sheet, a transfer of ``v`` nL of a stock ``c`` gives ``c * v /
(assay volume + all nL transferred into the well)``.

A transfer with a status message, or with less volume than asked, fails its
well: the well is flagged ``dispense_failed`` with the message and its
concentration is the planned one (the volume asked), for the record only.
The date columns are not read (Excel rewrites them, e.g. ``15:54.8``).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from ..errors import InputError
from ..geometry import PlateGeometry, geometry_for
from .common import Dispensing, LayoutKind, is_blank, parse_number, register
from .dispense import Dispense, assay_volume_nl, choose_plate, final_um, well_records
from .source_map import SourceMap

SECTIONS = ("[DETAILS]", "[EXCEPTIONS]")
NEEDED = (
    "Source Plate Name",
    "Source Plate Barcode",
    "Source Well",
    "Destination Plate Name",
    "Destination Plate Barcode",
    "Destination Well",
    "Transfer Volume",
    "Actual Volume",
    "Transfer Status",
)
_SECTION_RE = re.compile(r"^\[[A-Z ]+\]\s*,*\s*$")
_WELLS_RE = re.compile(r"(?<!\d)(96|384|1536)(?!\d)")


def sniff(text: str) -> bool:
    lines = text.lstrip().split("\n", 40)
    return lines[0].startswith("Run ID,") and any(line.strip().strip(",") in SECTIONS for line in text.split("\n"))


def transfers(path: Path, text: str) -> list[dict]:
    """Every transfer row of both sections as {column: cell} plus ``line`` and ``section``."""
    rows, section, header = [], None, None
    for number, line in enumerate(text.split("\n"), start=1):
        if _SECTION_RE.match(line.strip()):
            section, header = line.strip().strip(","), None
        elif section is None:
            continue  # the run header
        elif not line.strip(", \t"):
            section = None  # a blank line ends a section; the footer follows
        elif header is None:
            header = next(csv.reader([line]))
            missing = [name for name in NEEDED if name not in header]
            if missing:
                raise InputError(f"the {section} header lacks {', '.join(missing)}", file=path, line=number)
        else:
            cells = next(csv.reader([line]))
            if len(cells) != len(header):
                raise InputError(f"{len(cells)} cells under a {len(header)}-column header", file=path, line=number)
            rows.append(dict(zip(header, cells)) | {"line": number, "section": section})
    return rows


def records(path: Path, text: str, dispensing: Dispensing) -> list[dict]:
    if dispensing.source_map is None:
        raise InputError("an Echo transfer report needs the plate's source_map in the sample sheet", file=path)
    volume_nl = assay_volume_nl(dispensing, file=path, kind="Echo transfer")
    source_map = SourceMap(dispensing.source_map)
    rows = transfers(path, text)
    if not rows:
        raise InputError("the Echo report lists no transfers", file=path)
    plates = {_destination(r): (r["Destination Plate Name"], r["Destination Plate Barcode"]) for r in rows}
    chosen = choose_plate(plates, dispensing.plate, file=path)
    rows = [r for r in rows if _destination(r) == chosen]
    one_source = len({(r["Source Plate Name"], r["Source Plate Barcode"]) for r in rows}) == 1
    volumes = [_volume(r, path) for r in rows]
    well_nl: dict[str, float] = {}
    for row, (volume, _) in zip(rows, volumes):
        well_nl[row["Destination Well"]] = well_nl.get(row["Destination Well"], volume_nl) + volume
    dispenses = []
    for row, (volume, failure) in zip(rows, volumes):
        source = source_map.lookup(
            (row["Source Plate Name"], row["Source Plate Barcode"]), row["Source Well"], one_plate=one_source
        )
        if source is None:
            raise InputError(
                f"source plate {row['Source Plate Name']} ({row['Source Plate Barcode']}) well "
                f"{row['Source Well']} is not in the source-plate map {source_map.path}",
                file=path,
                well=row["Destination Well"],
                line=row["line"],
            )
        concentration = (
            final_um(source.stock, source.unit, volume, well_nl[row["Destination Well"]])
            if source.role != "vehicle"
            else float("nan")
        )
        dispenses.append(
            Dispense(row["Destination Well"], source.role, source.drug, concentration, failure, row["line"])
        )
    return well_records(dispenses, file=path)


def size(text: str) -> PlateGeometry | None:
    """The destination plate size its type names (``Eppendorf_PCR_384``,
    ``Corning 3599 96-well ...``), where all destination plates name the same one."""
    types = {r["Destination Plate Type"] for r in transfers(Path("?"), text) if "Destination Plate Type" in r}
    sizes = {tuple(_WELLS_RE.findall(name)) for name in types}
    if len(sizes) != 1 or len(next(iter(sizes))) != 1:
        return None
    return geometry_for(int(sizes.pop()[0]))


def _destination(row: dict) -> tuple[str, str]:
    return row["Destination Plate Name"], row["Destination Plate Barcode"]


def _volume(row: dict, path: Path) -> tuple[float, str]:
    """(nL counted for the well, failure message or ""): what was transferred,
    or what was asked where the transfer failed."""
    where = dict(file=path, well=row["Destination Well"])
    asked = parse_number(row["Transfer Volume"], what="Transfer Volume", **where)
    actual = parse_number(row["Actual Volume"], what="Actual Volume", **where)
    status = row["Transfer Status"].strip()
    if is_blank(asked) or asked <= 0 or is_blank(actual) or actual < 0:
        raise InputError(
            f"transfer volumes {row['Transfer Volume']!r} / {row['Actual Volume']!r} are not usable", **where
        )
    if not status and actual >= asked:
        return actual, ""
    source = f"{row['Source Plate Name']} {row['Source Well']}"
    message = f"{actual:g} of {asked:g} nL from {source}" + (f": {status}" if status else "")
    return asked, message


register(LayoutKind("echo", sniff, records, size, settings=("dispense_plate", "source_map", "assay_volume_ul")))
