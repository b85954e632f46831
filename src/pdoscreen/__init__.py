"""pdoscreen: organoid drug screens from plate-reader files to per-patient posteriors."""

__version__ = "0.2.0"

from .errors import InputError  # noqa: E402
from .layouts import read_layout  # noqa: E402
from .plate import read_plate  # noqa: E402
from .screen import open_screen  # noqa: E402

__all__ = ["InputError", "open_screen", "read_layout", "read_plate", "__version__"]
