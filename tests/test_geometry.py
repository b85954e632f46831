import pytest

from pdoscreen.errors import InputError
from pdoscreen.geometry import canonical_well, geometry_fitting, geometry_for, parse_well, row_label


@pytest.mark.parametrize("text", ["A1", "A01", "A001", "a1", " a01 "])
def test_well_spellings_agree(text):
    assert parse_well(text) == (0, 0)
    assert canonical_well(text) == "A01"


def test_1536_rows_after_z():
    assert row_label(25) == "Z" and row_label(26) == "AA" and row_label(31) == "AF"
    assert parse_well("AF48") == (31, 47)
    assert geometry_for(1536).wells[-1] == "AF48"


def test_geometry_of_partial_blocks():
    assert geometry_fitting(8, 12).n_wells == 96
    assert geometry_fitting(13, 20).n_wells == 384
    assert geometry_fitting(30, 2).n_wells == 1536


@pytest.mark.parametrize("bad", ["", "1A", "A0", "ABC1", "A1B"])
def test_bad_well_names(bad):
    with pytest.raises(InputError, match="not a well name"):
        parse_well(bad)


def test_unsupported_plate_size():
    with pytest.raises(InputError, match="unsupported plate size 48"):
        geometry_for(48)
