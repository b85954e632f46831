"""Plate-reader exports: one module per vendor behind one registry.

``detect(path)`` picks the reader from the file's content; ``read_measurements``
returns every measurement a file holds. Time courses have readers of their
own (``read_time_course``, see ``timecourse.py``); the endpoint path refuses them.

Adding a vendor's format is one new module, one import line and its real files:

1. write ``readers/<vendor>.py`` with a :class:`Reader` subclass registered by
   ``@register``: a ``name``, a ``sniff(sample)`` that looks at the content,
   never the file name, and a ``read(path)`` that returns every measurement the
   file holds (``base.measurement_from_cells``). Read text with ``textfiles``
   (``read_text``, ``split_rows``) and parse with the helpers of ``base``
   (``check_fields`` for every table, ``labelled_cells``, ``check_row_order``,
   ``refuse_kinetic``) and ``geometry``; anything the
   reader cannot read exactly raises an :class:`InputError` naming the file and
   line, and completeness, decimal marks and raw exceptions are
   ``read_checked``'s business, not the reader's;
2. import the module below;
3. put genuine exports in ``../shared/data/real-world/plate-reader/<folder>``
   and name the folder's reader in ``tests/test_readers_contract.py``, which
   checks that it claims those files and no others; ``tests/test_mutations.py``
   then mutates them, and ``tests/test_readers_<vendor>.py`` checks their
   values against the instrument's own numbers.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .base import (
    REGISTRY,
    FileSample,
    Measurement,
    Reader,
    not_an_export,
    read_checked,
)

# Importing a module registers its readers.
from . import bmg, envision, gen5, glomax, kaleido, skanit, softmax, tecan, victor  # noqa: F401,E402
from . import incucyte  # noqa: F401,E402  (a time-course reader)
from .timecourse import TIME_COURSE_REGISTRY, detect_time_course, read_time_course  # noqa: E402

__all__ = [
    "REGISTRY",
    "TIME_COURSE_REGISTRY",
    "Measurement",
    "Reader",
    "detect",
    "read_measurements",
    "read_time_course",
]


def detect(path: str | Path) -> str:
    """The name of the one reader whose sniffer recognises this file."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise InputError("the file is empty", file=path)
    sample = FileSample(path)
    try:
        matches = [name for name, reader in REGISTRY.items() if reader.sniff(sample)]
    except InputError as error:
        raise error.located(file=path) from None
    except Exception as error:  # a sniffer meeting a damaged file
        raise InputError(f"cannot tell the file's format: {type(error).__name__}: {error}", file=path) from error
    if not matches and (course := detect_time_course(path)):
        raise InputError(
            f"this is a time course ({TIME_COURSE_REGISTRY[course].description}), not one endpoint read: "
            "read it with pdoscreen.readers.read_time_course, or as a sample-sheet plate with its "
            "drug_added_h and timepoint_h columns (docs/growth.md)",
            file=path,
        )
    if not matches and (reason := not_an_export(sample)):
        raise InputError(f"this is {reason}", file=path)
    if not matches:
        raise InputError(
            "unknown plate-reader format: no reader recognises this file's content "
            f"(known readers: {', '.join(sorted(REGISTRY))})",
            file=path,
        )
    if len(matches) > 1:
        raise InputError(
            f"ambiguous plate-reader format: readers {', '.join(matches)} all recognise it; "
            "name one in the sample sheet's reader column",
            file=path,
        )
    return matches[0]


def read_measurements(path: str | Path, reader: str = "auto") -> tuple[str, list[Measurement]]:
    """(reader name, measurements) for a plate-reader export."""
    path = Path(path)
    if not path.is_file():
        raise InputError("plate-reader file not found", file=path)
    name = detect(path) if reader == "auto" else reader
    if name not in REGISTRY:
        raise InputError(
            f"unknown reader {name!r}; known readers: auto, {', '.join(sorted(REGISTRY))}",
            file=path,
        )
    measurements = read_checked(path, REGISTRY[name])
    if not measurements:
        raise InputError(f"no plate measurement found by reader {name}", file=path)
    return name, measurements
