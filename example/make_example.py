"""Write the example organoid screen shipped with pdoscreen (deterministic).

Three patients, five organoid lines, eight drugs at nine concentrations, two
replicate plates per line on 384-well plates, read on two instruments (a
PerkinElmer EnVision and a BMG PHERAstar), with a plate sample sheet, two
layouts (a long CSV and a plate-shaped grid CSV) and the simulated truth.

The signal follows the model pdoscreen fits (see docs): a log-logistic curve per
line and drug, patient and line offsets on log10 EC50, a plate gain and floor,
and Student-t noise with additive and multiplicative parts.

    python example/make_example.py            # rewrites example/screen/
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20261125
ROWS = "ABCDEFGHIJKLMNOP"
N_COLUMNS = 24
# name, top concentration (µM), true cohort log10 EC50 (M), Hill slope, residual viability
DRUGS = [
    ("Bortezomib", 1.0, -8.3, 1.8, 0.05),
    ("Gemcitabine", 10.0, -7.6, 1.2, 0.30),
    ("Oxaliplatin", 100.0, -5.3, 1.0, 0.15),
    ("Paclitaxel", 1.0, -8.4, 1.5, 0.35),
    ("SN-38", 1.0, -7.9, 1.3, 0.10),
    ("Trametinib", 10.0, -7.3, 0.9, 0.45),
    ("Olaparib", 100.0, -4.9, 1.1, 0.20),
    ("Afatinib", 10.0, -6.2, 1.6, 0.10),
]
DILUTION = 3.0
N_DOSES = 9
N_TECHNICAL = 3
PATIENTS = {"P01": ["P01-L1", "P01-L2"], "P02": ["P02-L1", "P02-L2"], "P03": ["P03-L1"]}
TAU_PATIENT, TAU_LINE, TAU_PLATE = 0.5, 0.25, 0.08


def interior_wells() -> list[tuple[str, int]]:
    """The outer ring stays empty (evaporation), as in most organoid plates."""
    return [(r, c) for r in ROWS[1:-1] for c in range(2, N_COLUMNS)]


def design(rng: np.random.Generator) -> pd.DataFrame:
    """One randomised 384-well layout: vehicle and kill columns, drugs scattered."""
    wells = interior_wells()
    controls = [(r, c) for (r, c) in wells if c in (2, N_COLUMNS - 1)]
    treated_wells = [w for w in wells if w not in controls]
    records = []
    for i, (r, c) in enumerate(controls):
        role = "vehicle" if i % 3 else "kill"
        drug = "DMSO" if role == "vehicle" else "Staurosporine"
        conc = "" if role == "vehicle" else 10.0
        records.append((f"{r}{c}", role, drug, conc, "" if role == "vehicle" else "uM"))
    doses = [
        (name, top / DILUTION**k)
        for name, top, *_ in DRUGS
        for k in range(N_DOSES)
        for _ in range(N_TECHNICAL)
    ]
    order = rng.permutation(len(treated_wells))
    for (name, conc), index in zip(doses, order):
        r, c = treated_wells[index]
        records.append((f"{r}{c}", "treated", name, round(conc, 6), "uM"))
    layout = pd.DataFrame(records, columns=["well", "role", "drug", "concentration", "unit"])
    return layout


def curve(log10_conc, c, h, e):
    return e + (1 - e) / (1 + 10 ** (h * (log10_conc - c)))


def truth_table(rng: np.random.Generator) -> pd.DataFrame:
    records = []
    for name, _top, mu_c, mu_h, mu_e in DRUGS:
        for patient, lines in PATIENTS.items():
            patient_shift = rng.normal(0, TAU_PATIENT)
            for line in lines:
                records.append(
                    dict(
                        drug=name,
                        patient=patient,
                        line=line,
                        log10_ec50=mu_c + patient_shift + rng.normal(0, TAU_LINE),
                        hill=mu_h * np.exp(rng.normal(0, 0.15)),
                        residual_viability=float(np.clip(mu_e + rng.normal(0, 0.05), 0.01, 0.9)),
                    )
                )
    return pd.DataFrame(records)


def simulate_plate(layout, truth, line, rng) -> dict[str, float]:
    """Raw signal per well for one plate of one line."""
    gain = 2.0e5 * np.exp(rng.normal(0, 0.2))
    floor = 0.02 * np.exp(rng.normal(0, 0.3))
    plate_shift = {d: rng.normal(0, TAU_PLATE) for d, *_ in DRUGS}
    params = truth[truth.line == line].set_index("drug")
    signal = {}
    for well in layout.itertuples():
        if well.role == "vehicle":
            viability = 1.0
        elif well.role == "kill":
            viability = 0.0
        else:
            p = params.loc[well.drug]
            log10_molar = np.log10(float(well.concentration) * 1e-6)
            viability = curve(log10_molar, p.log10_ec50 + plate_shift[well.drug], p.hill, p.residual_viability)
        mean = gain * (floor + (1 - floor) * viability)
        sd = np.sqrt((0.01 * gain) ** 2 + (0.06 * mean) ** 2)
        signal[well.well] = max(mean + sd * rng.standard_t(5), 50.0)
    return signal


def matrix(signal: dict[str, float], fill: float, rng) -> np.ndarray:
    """The whole plate as the reader reports it; empty wells read background."""
    values = np.empty((len(ROWS), N_COLUMNS))
    for i, r in enumerate(ROWS):
        for j in range(N_COLUMNS):
            values[i, j] = signal.get(f"{r}{j + 1}", fill * np.exp(rng.normal(0, 0.1)))
    return np.round(values)


def write_envision(path: Path, values: np.ndarray, barcode: str, read_time: str) -> None:
    """An EnVision Workstation CSV export (comma separator, raw block, plate info after)."""
    lines = ["Results for LUM 384(1) - channel 0 (CPS)"]
    lines.append("," + ",".join(f"{c:02d}" for c in range(1, N_COLUMNS + 1)) + ",")
    for i, r in enumerate(ROWS):
        lines.append(r + "," + ",".join(str(int(v)) for v in values[i]) + ",")
    lines += [
        "",
        "Plate information ",
        "Plate,Repeat,Barcode,Measured height,Chamber temperature at start,Chamber temperature at end,"
        "Humidity at start,Humidity at end,Ambient temperature at start,Ambient temperature at end,"
        "Formula,Measinfo,Kinetics,Measurement date,",
        f'1,1,"=""{barcode}""",14.10,24.10,24.10,35.2,35.1,23.80,23.90,1,LUM 384(1),0,{read_time},',
        "",
        "Background information",
        "Plate,Label,Result,Signal,Flashes/Time,Meastime,MeasInfo,",
        "1,LUM 384,0,1830,0.1,00:00:00.000,De=USLum Ex=N/A Em=N/A Wdw=N/A (12),",
        "",
        "",
        "Basic assay information ",
        "Assay ID: ,,,,211",
        f"Assay Started: ,,,,{read_time}",
        "Assay Finished: ,,,,N/A",
        "Protocol Name: ,,,,CTG3D 384",
        "Serial#: ,,,,1041777",
        "",
        "Exported with EnVision Workstation version 1.13.3009.1409",
    ]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8", newline="")


def write_bmg(path: Path, values: np.ndarray, barcode: str, date: str, time: str, run: int) -> None:
    """A BMG MARS CSV export from a PHERAstar (luminescence, padded rows)."""
    pad = "," * N_COLUMNS
    lines = [
        f"User: USER,Path: C:\\Program Files (x86)\\BMG\\PHERAstar\\User\\Data,Test run no.: {run}"
        + "," * (N_COLUMNS - 2),
        f"Test name: CTG3D 384 LUM,Date: {date},Time: {time}" + "," * (N_COLUMNS - 2),
        pad,
        f"ID1: {barcode}" + pad,
        "Luminescence" + pad,
        pad,
        "Raw Data (LUM plus)" + pad,
        pad,
        "," + ",".join(str(c) for c in range(1, N_COLUMNS + 1)),
    ]
    for i, r in enumerate(ROWS):
        lines.append(r + "," + ",".join(str(int(v)) for v in values[i]))
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8", newline="")


def write_grid_layout(path: Path, layout: pd.DataFrame) -> None:
    """The same design as plate-shaped grids, one per field (plater style)."""
    blocks = []
    by_well = layout.set_index("well")
    for field in ["role", "drug", "concentration", "unit"]:
        block = [field + "," + ",".join(str(c) for c in range(1, N_COLUMNS + 1))]
        for r in ROWS:
            cells = [
                str(by_well.at[f"{r}{c}", field]) if f"{r}{c}" in by_well.index else ""
                for c in range(1, N_COLUMNS + 1)
            ]
            block.append(r + "," + ",".join(cells))
        blocks.append("\n".join(block))
    path.write_text(("\n" + "," * N_COLUMNS + "\n").join(blocks) + "\n")


def mirrored(layout: pd.DataFrame) -> pd.DataFrame:
    """Layout B: layout A turned by 180 degrees, so replicates see other positions."""
    def turn(well: str) -> str:
        r, c = well[0], int(well[1:])
        return f"{ROWS[len(ROWS) - 1 - ROWS.index(r)]}{N_COLUMNS + 1 - c}"

    return layout.assign(well=layout.well.map(turn))


def main(out: Path) -> None:
    rng = np.random.default_rng(SEED)
    if out.exists():
        shutil.rmtree(out)
    for sub in ["layouts", "raw/envision", "raw/pherastar"]:
        (out / sub).mkdir(parents=True)
    layouts = {"A": design(rng)}
    layouts["B"] = mirrored(layouts["A"])
    layouts["A"].to_csv(out / "layouts/layout_A.csv", index=False)
    write_grid_layout(out / "layouts/layout_B_grid.csv", layouts["B"])
    truth = truth_table(rng)
    truth.round(4).to_csv(out / "truth.tsv", sep="\t", index=False)

    sheet = []
    run = 100
    for day, (patient, lines) in enumerate(PATIENTS.items(), start=1):
        for line in lines:
            for replicate, layout_name in enumerate("AB", start=1):
                run += 1
                plate = f"{line}-R{replicate}"
                barcode = f"PDO{run:05d}"
                values = matrix(simulate_plate(layouts[layout_name], truth, line, rng), 400.0, rng)
                if patient == "P02":
                    file = f"raw/pherastar/{day:02d}-11-2026 10-{run % 60:02d}-00 {barcode}.csv"
                    write_bmg(out / file, values, barcode, f"{day + 9:02d}/11/2026", f"10:{run % 60:02d}:00", run)
                else:
                    file = f"raw/envision/{barcode}_{plate}.csv"
                    write_envision(out / file, values, barcode, f"11/{day + 9}/2026 9:{run % 60:02d}:00 AM")
                layout_file = "layouts/layout_A.csv" if layout_name == "A" else "layouts/layout_B_grid.csv"
                sheet.append(
                    dict(plate=plate, patient=patient, line=line, file=file, reader="auto",
                         layout=layout_file, replicate=replicate, batch=f"2026-11-{day + 6:02d}",
                         timepoint_h=120)
                )
    pd.DataFrame(sheet).to_csv(out / "sample_sheet.tsv", sep="\t", index=False)
    print(f"wrote {len(sheet)} plates to {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "screen")
    main(parser.parse_args().out)
