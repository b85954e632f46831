"""The per-element choice of parametrisation (parametrisation.py) on constructed
curvatures, where the right answer follows from the rule by hand."""

from types import SimpleNamespace

import numpy as np
import pytest

from pdoscreen import parametrisation
from pdoscreen.model import CENTRABLE


def design(plates_per_line: int, lines_per_patient: int = 2, n_patients: int = 4) -> SimpleNamespace:
    """Model data (model.DrugData) with only what the rule reads: which plates
    have wells, their lines and the lines' patients (no padding)."""
    n_lines = n_patients * lines_per_patient
    n_plates = n_lines * plates_per_line
    plate_line = np.repeat(np.arange(n_lines), plates_per_line)
    sizes = {"c_pat": n_patients, "logit_E_pat": n_patients, "c_line": n_lines, "logit_E_line": n_lines,
             "log_h_line": n_lines, "c_plate": n_plates}
    return SimpleNamespace(
        plate=np.repeat(np.arange(n_plates), 10), mask=np.ones(10 * n_plates, dtype=bool),
        plate_line=plate_line, line_patient=np.repeat(np.arange(n_patients), lines_per_patient),
        n_patients=n_patients, centred={site: np.ones(n) for site, n in sizes.items()},
    )


SCALES = {"tau_pat": 0.5, "tau_E_pat": 0.5, "tau_line": 0.3, "tau_E_line": 0.5, "tau_h": 0.3, "tau_rep": 0.1}


def test_elements_pinned_by_their_wells_are_centred_and_the_others_not():
    data = design(plates_per_line=2)
    # plates of the first four lines hold much data (sd 0.01 decades), the rest almost none
    plate_info = np.where(data.plate_line < 4, 1e4, 1e-2)
    line_info = np.where(np.arange(8) < 4, 1e4, 1e-2)
    chosen = parametrisation.from_data_weights(
        data, {"c_plate": plate_info, "logit_E_line": line_info, "log_h_line": line_info}, SCALES)
    assert chosen.centred["c_plate"].tolist() == [1.0] * 8 + [0.0] * 8
    assert chosen.centred["c_line"].tolist() == [1.0] * 4 + [0.0] * 4
    assert chosen.centred["logit_E_line"].tolist() == [1.0] * 4 + [0.0] * 4
    # a plate's kappa by hand: 16 plates of 8 lines, df 8, chi^2_8(0.05) = 2.7326368
    tau_low = SCALES["tau_rep"] * np.sqrt(2.7326368 / 8)
    assert chosen.kappa["c_plate"][0] == pytest.approx(tau_low**2 * 1e4 / (1 + tau_low**2 * 1e4))
    # a line's information comes through its two plates: 2 / (1/1e4 + tau_rep^2)
    line = 2 / (1 / 1e4 + SCALES["tau_rep"] ** 2)
    tau_line_low = SCALES["tau_line"] * np.sqrt(0.71072302 / 4)  # 8 lines of 4 patients: chi^2_4(0.05)
    assert chosen.kappa["c_line"][0] == pytest.approx(tau_line_low**2 * line / (1 + tau_line_low**2 * line))
    assert chosen.describe({"c_plate": 16, "c_line": 8}) == "c_plate 8/16 centred, c_line 4/8 centred"


def test_a_level_with_one_member_per_parent_stays_non_centred():
    # one plate per line and one line per patient: plates and lines carry no
    # spread of their own that the data could tell from their parent's
    data = design(plates_per_line=1, lines_per_patient=1)
    huge = {site: np.full(len(data.centred[site]), 1e6) for site in ("c_plate", "logit_E_line", "log_h_line")}
    chosen = parametrisation.from_data_weights(data, huge, SCALES)
    assert not chosen.centred["c_plate"].any() and not chosen.centred["c_line"].any()
    assert not chosen.centred["logit_E_line"].any()
    assert chosen.centred["log_h_line"].all()  # h has no patient level: 4 lines, df 3
    # however many wells, one line tells its patient's EC50 only to within
    # tau_line (and its one plate the line's to within tau_rep): I_k = 1 / (0.01 + 0.09)
    assert not chosen.centred["c_pat"].any()
    assert chosen.kappa["c_pat"][0] < 0.5


def test_few_members_need_more_data_to_be_centred():
    """The same curvature centres a level of many members and not one of few:
    tau is judged at a lower bound that is lower with fewer degrees of freedom."""
    info = 100.0  # tau_rep^2 * I = 4 at tau_rep = 0.2 itself; kappa 0.17 at df 2, 0.74 at df 60
    few, many = design(plates_per_line=2, n_patients=1), design(plates_per_line=2, n_patients=30)
    kappa = {}
    for name, data in (("few", few), ("many", many)):
        curvature = {"c_plate": np.full(len(data.plate_line), info),
                     "logit_E_line": np.ones(len(data.line_patient)),
                     "log_h_line": np.ones(len(data.line_patient))}
        kappa[name] = parametrisation.from_data_weights(data, curvature, SCALES | {"tau_rep": 0.2}).kappa["c_plate"][0]
    assert kappa["few"] < parametrisation.KAPPA_CENTRE < kappa["many"]


def test_fixed_levels_as_configured():
    data = design(plates_per_line=2)
    chosen = parametrisation.fixed(data, ["lines"])
    assert set(chosen.centred) == set(CENTRABLE)
    assert not chosen.centred["c_line"].any() and not chosen.centred["log_h_line"].any()
    assert chosen.centred["c_plate"].all() and chosen.centred["c_pat"].all()
