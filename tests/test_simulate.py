"""Simulated screens: exceptional responders (Design.responders)."""

from dataclasses import replace

import numpy as np
import pytest

from conftest import seeded
from pdoscreen.metrics import aac
from pdoscreen.simulate import Design, _doses, screen

DESIGN = Design(n_patients=3, lines_per_patient=2, plates_per_line=1, drugs=("drugA", "drugB", "drugC"))


def with_and_without(*responders, design=DESIGN, seed=3):
    plain = screen(design, seeded(seed))
    moved = screen(replace(design, responders=responders), seeded(seed))
    return plain, moved


def test_a_responder_moves_only_its_patients_lines_for_its_drug():
    (plain_ds, plain), (moved_ds, moved) = with_and_without((1, "drugB", -2.0))
    hit = ((plain.patient == "P2") & (plain.drug == "drugB")).to_numpy()
    assert hit.sum() == DESIGN.lines_per_patient
    np.testing.assert_allclose(moved.log10_ec50[hit] - plain.log10_ec50[hit], -2.0, rtol=0, atol=1e-12)
    # every other line and drug, and every other column of the responder's lines, as without it
    assert moved[~hit].equals(plain[~hit])
    for column in ("drug", "patient", "line", "hill", "residual_viability"):
        assert moved[column].equals(plain[column])
    # the wells: only the responder's drug wells on the responder's plates differ
    changed = moved_ds.signal.values != plain_ds.signal.values
    responder_wells = (moved_ds.patient.values[:, None] == "P2") & (moved_ds.drug.values == "drugB")
    assert changed.any() and not (changed & ~responder_wells).any()


def test_the_responders_aac_follows_its_moved_curve():
    (_, plain), (_, moved) = with_and_without((1, "drugB", -2.0), (2, "drugC", 1.5, 0.9))
    x = np.log10(_doses(DESIGN))
    np.testing.assert_allclose(
        moved.aac, aac(moved.log10_ec50, moved.hill, moved.residual_viability, x.min(), x.max()), rtol=1e-12
    )
    sensitive = ((moved.patient == "P2") & (moved.drug == "drugB")).to_numpy()
    resistant = ((moved.patient == "P3") & (moved.drug == "drugC")).to_numpy()
    assert (moved.aac[sensitive] > plain.aac[sensitive]).all()  # a lower EC50, a larger area
    # the fourth element replaces the drawn residual viability: a nearly flat curve
    assert (moved.residual_viability[resistant] == 0.9).all()
    assert (moved.aac[resistant] < np.minimum(plain.aac[resistant], 0.1)).all()
    assert moved[~(sensitive | resistant)].equals(plain[~(sensitive | resistant)])


@pytest.mark.parametrize("responder", [(3, "drugA", -1.0), (0, "drugZ", -1.0), (0, "drugA"), (0, "drugA", -1.0, 0.0)])
def test_a_responder_outside_the_design_is_refused(responder):
    with pytest.raises(ValueError, match="responder"):
        screen(replace(DESIGN, responders=(responder,)), seeded(3))
