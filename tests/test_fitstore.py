"""A fit's files (fitstore.py): named by the fit's zarr path, tables beside it."""

from __future__ import annotations

import pandas as pd
import pytest

from pdoscreen import fitstore

# Drug file names keep dots (screen.drug_slug): "ABT-737 0.5uM" -> "ABT-737_0.5uM".
# Before fits were named by their zarr, a prefix's ".5uM" read as a suffix and
# the fit went to ABT-737_0.zarr.
DOTTED = "ABT-737_0.5uM"


def test_a_dotted_drug_name_keeps_every_file_beside_its_own_zarr(tmp_path):
    fit = tmp_path / "fits" / f"{DOTTED}.zarr"
    fitstore.write_not_fitted("ABT-737 0.5uM", "no wells", fit, "print")
    assert sorted(p.name for p in fit.parent.iterdir()) == sorted(
        [f"{DOTTED}.zarr", f"{DOTTED}.diagnostics.tsv", f"{DOTTED}.lines.tsv", f"{DOTTED}.ppc.tsv"])
    assert fitstore.stored_fingerprint(fit) == "print"
    copy = tmp_path / "refits" / f"{DOTTED}.zarr"
    fitstore.copy_fit(fit, copy)
    assert fitstore.stored_fingerprint(copy) == "print"
    assert fitstore.fitted([fit]) == []  # recorded as not fitted
    fitstore.collect_diagnostics([fit], tmp_path / "all.tsv")
    collected = pd.read_csv(tmp_path / "all.tsv", sep="\t")
    assert list(collected.drug) == [DOTTED] and list(collected.status) == ["not_fitted"]


def test_a_fit_is_named_by_its_zarr_path():
    assert fitstore.table_path("results/fits/SN-38.zarr", "ppc").as_posix() == "results/fits/SN-38.ppc.tsv"
    with pytest.raises(ValueError, match="named by its .zarr path"):
        fitstore.table_path("results/fits/SN-38", "ppc")
