"""One error type for bad input, carrying where the problem is."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad user input: names the file and, where it applies, the plate and well."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        plate: str | None = None,
        well: str | None = None,
        line: int | None = None,
    ):
        self.file = None if file is None else str(file)
        self.plate = plate
        self.well = well
        self.line = line
        self.reason = message
        where = []
        if self.file is not None:
            where.append(f"file {self.file}" + (f" (line {line})" if line else ""))
        if plate is not None:
            where.append(f"plate {plate}")
        if well is not None:
            where.append(f"well {well}")
        super().__init__(f"{'; '.join(where)}: {message}" if where else message)

    def located(self, *, file=None, plate=None) -> "InputError":
        """The same error with the file or plate filled in where it was unknown."""
        return InputError(
            self.reason,
            file=self.file or file,
            plate=self.plate or plate,
            well=self.well,
            line=self.line,
        )
