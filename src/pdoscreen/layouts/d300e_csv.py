"""Tecan D300e Control CSV exports (dispensed wells) as layouts.

One row per well and fluid, all fields quoted, with two columns named
``Units``: the one after ``Dispensed concentration`` is the concentration's,
the one after ``Dispensed volume`` the volume's. The D300e writes the final
concentration itself (relative to the well's total volume), so no assay volume
or source map is needed. ``Dispensed well`` is where the fluid went (with
randomisation on, ``Non-random well`` is the protocol's well); its 1-based
``Dispensed row``/``Dispensed col`` must agree. A fluid row without a
concentration is back-fill (vehicle); a fluid map (the sample sheet's
``source_map``) makes named fluids kill controls or vehicles. The export may end without a line end;
every row must then still have all its cells, and the last one (the total
well volume) is not used.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..geometry import parse_well, well_name
from .common import Dispensing, LayoutKind, is_blank, parse_concentration, parse_unit, register, table_rows
from .dispense import Dispense, choose_plate, fluid_dispense, in_um, well_records
from .source_map import fluid_roles

SIGNATURE = ("Dispensed well", "Fluid name", "Dispensed concentration")
NEEDED = (
    "Plate ID",
    "Plate",
    "Dispensed well",
    "Dispensed row",
    "Dispensed col",
    "Fluid name",
    "Dispensed concentration",
    "Dispensed volume",
)


def sniff(text: str) -> bool:
    rows = table_rows(text.split("\n", 1)[0])
    return bool(rows) and all(name in [c.strip() for c in rows[0][1]] for name in SIGNATURE)


def records(path: Path, text: str, dispensing: Dispensing) -> list[dict]:
    rows = table_rows(text)
    header = [cell.strip() for cell in rows[0][1]]
    missing = [name for name in NEEDED if name not in header]
    concentration_at = header.index("Dispensed concentration") if "Dispensed concentration" in header else -1
    if missing or header[concentration_at + 1 : concentration_at + 2] != ["Units"]:
        raise InputError(
            f"the header lacks {', '.join(missing) or 'Units after Dispensed concentration'}", file=path, line=1
        )
    lines = []
    for line, cells in rows[1:]:
        if len(cells) != len(header):
            raise InputError(f"{len(cells)} cells under a {len(header)}-column header", file=path, line=line)
        lines.append(
            (
                line,
                {name: cells[i] for i, name in enumerate(header) if name != "Units"}
                | {"unit": cells[concentration_at + 1]},
            )
        )
    plates = {(r["Plate ID"], r["Plate"]): (r["Plate ID"], r["Plate"]) for _, r in lines}
    chosen = choose_plate(plates, dispensing.plate, file=path)
    roles = fluid_roles(dispensing.source_map, {r["Fluid name"].strip() for _, r in lines}, log=path)
    return well_records(
        [_dispense(r, line, path, roles) for line, r in lines if (r["Plate ID"], r["Plate"]) == chosen], file=path
    )


def _dispense(row: dict, line: int, path: Path, roles: dict[str, str]) -> Dispense:
    well = row["Dispensed well"].strip()
    indices = (int(row["Dispensed row"]) - 1, int(row["Dispensed col"]) - 1)
    if parse_well(well) != indices:
        raise InputError(
            f"Dispensed row {row['Dispensed row']} / col {row['Dispensed col']} is well {well_name(*indices)}",
            file=path,
            well=well,
            line=line,
        )
    drug = row["Fluid name"].strip()
    final_um = float("nan")
    if not is_blank(row["Dispensed concentration"]):
        concentration, unit = parse_concentration(row["Dispensed concentration"], file=path, well=well)
        unit = unit or parse_unit(row["unit"], file=path, well=well)
        if not unit:
            raise InputError(f"{drug}'s dispensed concentration has no unit", file=path, well=well, line=line)
        final_um = in_um(concentration, unit)
    return fluid_dispense(well, drug, final_um, roles.get(drug), file=path, line=line)


register(
    LayoutKind("d300e_csv", sniff, records, settings=("dispense_plate", "source_map"), checks_own_end=True)
)
