"""pdoscreen: organoid drug screens from plate-reader files to per-patient posteriors."""

__version__ = "0.3.0"

from .errors import InputError  # noqa: E402
from .layouts import read_layout  # noqa: E402
from .plate import read_plate  # noqa: E402
from .results import fitted_drugs, open_fit, open_metrics, read_table  # noqa: E402
from .screen import open_screen  # noqa: E402

__all__ = [
    "InputError", "fitted_drugs", "open_fit", "open_metrics", "open_screen", "read_layout", "read_plate", "read_table",
    "__version__",
]
