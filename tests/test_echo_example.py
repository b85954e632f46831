"""The example screen laid out by an Echo transfer report (example/echo/) is the
example screen laid out by its table (example/screen/layouts/layout_A.csv):
the same wells, the same screen and, fitted with the same seed, the same
posterior draws."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from conftest import QUICK_FIT, REPO
from pdoscreen.fit import FitSettings, drug_wells, fit_drug, plate_priors
from pdoscreen.geometry import geometry_for
from pdoscreen.ingest import ingest_plates
from pdoscreen.layouts import read_layout
from pdoscreen.samplesheet import load_sample_sheet
from pdoscreen.screen import build_screen, dispensing
from pdoscreen.store import open_zarr

ECHO = REPO / "example" / "echo"
TABLE = REPO / "example" / "screen" / "layouts" / "layout_A.csv"
TABLE_SHEET = REPO / "example" / "screen" / "sample_sheet.tsv"
ECHO_SHEET = ECHO / "sample_sheet.tsv"
# The source map's stocks are the table's decimals times 1000 (or 500) exactly,
# and every well holds 49.9 uL + 100 nL = 50,000 nL (exact in floating point,
# asserted below), so both routes compute the same real number and differ only
# by rounding: the table's 2 roundings (decimal to double, / 1e6 to molar), the
# report's 5 (the stock's decimal, x 1000 from mM, x nL, / 50,000, / 1e6), each
# at most 2^-53 relative: at most 7 x 2^-53 = 7.8e-16 apart. Measured: 1 ulp
# (2.0e-16) in 33 of the 226 dosed wells, the others bit for bit.
REL = 1e-15
PLATES = ["P01-L1-R1", "P01-L1-R2", "P01-L2-R1", "P01-L2-R2", "P02-L1-R1", "P02-L1-R2", "P02-L2-R1", "P02-L2-R2"]
DRUG = "Afatinib"


def echo_rows() -> pd.DataFrame:
    sheet = load_sample_sheet(ECHO_SHEET)
    return sheet[sheet["source_map"] != ""]


def test_the_generator_writes_the_committed_files(tmp_path):
    run = subprocess.run([sys.executable, ECHO / "make_echo_log.py", "--out", tmp_path], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for name in ("echo_transfer_layout_A.csv", "source_map.csv", "sample_sheet.tsv"):
        assert (tmp_path / name).read_bytes() == (ECHO / name).read_bytes(), name


def test_every_plate_of_the_report_is_the_table_layout():
    geometry = geometry_for(384)
    table = read_layout(TABLE, geometry)
    rows = echo_rows()
    assert len(rows) == 5 and set(rows["layout"]) == {"echo_transfer_layout_A.csv"}
    for _, row in rows.iterrows():
        assert row["assay_volume_ul"] * 1000 + 50 + 50 == 50_000
        echo = read_layout(row["layout_path"], geometry, dispensing=dispensing(row))
        for column in ("well", "role", "drug", "unit", "flag"):
            assert echo[column].tolist() == table[column].tolist(), (row["plate"], column)
        assert set(table["role"]) == {"treated", "vehicle", "kill"}
        np.testing.assert_allclose(echo["concentration_molar"], table["concentration_molar"], rtol=REL, atol=0)
        # The fitted drug's doses round the same way on both routes: bit for bit.
        fitted = table["drug"] == DRUG
        assert fitted.sum() == 27
        assert echo.loc[fitted, "concentration_molar"].tolist() == table.loc[fitted, "concentration_molar"].tolist()


def screen_of(sheet_path, out_dir) -> xr.Dataset:
    """The plates of two patients as the workflow builds them: ingested to
    Zarr stores, then stacked into the screen."""
    sheet = load_sample_sheet(sheet_path)
    sheet = sheet[sheet["plate"].isin(PLATES)].reset_index(drop=True)
    ingest_plates(sheet, PLATES, out_dir)
    return build_screen(sheet, {plate: open_zarr(out_dir / f"{plate}.zarr") for plate in sheet["plate"]})


@pytest.fixture(scope="module")
def screens(tmp_path_factory):
    return screen_of(TABLE_SHEET, tmp_path_factory.mktemp("table")), screen_of(
        ECHO_SHEET, tmp_path_factory.mktemp("echo")
    )


def test_the_two_screens_agree(screens):
    table, echo = screens
    assert list(echo.plate.values) == PLATES and list(echo.well.values) == list(table.well.values)
    for name in ("signal", "flag", "percent_of_control", "gr_value"):
        xr.testing.assert_equal(echo[name].reset_coords(drop=True), table[name].reset_coords(drop=True))
    for name in ("role", "drug", "flag_message", "patient", "line", "replicate", "barcode"):
        assert np.array_equal(echo[name].values, table[name].values), name
    np.testing.assert_allclose(echo.concentration_molar, table.concentration_molar, rtol=REL, atol=0)
    # The report names each plate by the barcode its reader printed.
    sheet = echo_rows().set_index("plate")
    for plate in set(PLATES) & set(sheet.index):
        assert echo.barcode.sel(plate=plate).item() == sheet.loc[plate, "dispense_plate"]


@pytest.mark.usefixtures("jax_compilation_cache")
def test_one_drug_fits_to_the_same_draws(screens):
    table, echo = screens
    settings = FitSettings(**QUICK_FIT)
    assert settings.method == "svi"
    # The fit's inputs are the same bits (the drug's doses, signals and plate
    # priors), and a fit is a deterministic function of them and the seed ...
    pd.testing.assert_frame_equal(drug_wells(echo, DRUG, PLATES), drug_wells(table, DRUG, PLATES), check_exact=True)
    pd.testing.assert_frame_equal(plate_priors(echo), plate_priors(table), check_exact=True)
    fits = [fit_drug(screen, DRUG, plate_priors(screen), PLATES, settings) for screen in (table, echo)]
    # ... so the draws are the same, not merely close.
    for group in ("posterior", "log_likelihood", "posterior_predictive"):
        xr.testing.assert_equal(getattr(fits[1], group), getattr(fits[0], group))
    assert fits[0].posterior.sizes["draw"] == QUICK_FIT["chains"] * QUICK_FIT["draws"]
