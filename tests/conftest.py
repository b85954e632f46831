from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_WORLD = REPO.parent / "shared" / "data" / "real-world"


@pytest.fixture(scope="session")
def real_world() -> Path:
    if not REAL_WORLD.is_dir():
        pytest.fail(f"shared real-world data not found at {REAL_WORLD}")
    return REAL_WORLD
