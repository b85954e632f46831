"""Mutation tests (issue 19): damaged copies of the shipped real instrument
exports must never be read as different numbers. For every mutant the reader
gives the same values, flags every well whose value changed, or refuses with
an InputError naming the file.

Hypothesis draws the mutations from a fixed seed (derandomised), so CI sees the
same mutants every run; ``python tests/test_mutations.py N`` runs N mutants per
file and prints the reliability figures quoted in docs/readers.md.
"""

from __future__ import annotations

import io
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdoscreen.errors import InputError
from pdoscreen.plate import choose_measurement
from pdoscreen.readers import TIME_COURSE_REGISTRY, read_measurements, read_time_course
from pdoscreen.readers.base import read_checked
from pdoscreen.readers.timecourse import detect_time_course
from pdoscreen.textfiles import decimal_mark

REPO = Path(__file__).resolve().parents[1]
REAL_WORLD = REPO.parent / "shared" / "data" / "real-world" / "plate-reader"
EXAMPLE_RAW = REPO / "example" / "screen" / "raw"
# Files refused as they are (kinetic reads, no results) have no values to keep.
SCREENS = REAL_WORLD.parent / "raw-screen-dataset"


def _victor_endpoints() -> list[Path]:
    """The VICTOR files are kinetic reads (refused); their single-cycle copies are endpoints."""
    from test_readers_victor import NIVO, X3, nivo_single_cycle, x3_single_repeat

    folder = Path(tempfile.mkdtemp(prefix="victor-"))
    return [
        nivo_single_cycle(REAL_WORLD.parent / NIVO, folder / "nivo_single_cycle.csv"),
        x3_single_repeat(REAL_WORLD.parent / X3, folder / "victorx3_single_repeat.txt"),
    ]


FILES = sorted(p for p in REAL_WORLD.rglob("*") if p.is_file()) + _victor_endpoints() + [
    EXAMPLE_RAW / "envision" / "PDO00101_P01-L1-R1.csv",
    EXAMPLE_RAW / "pherastar" / "02-11-2026 10-45-00 PDO00105.csv",
    SCREENS / "drugscreenexplorer-cll-ctg384" / "CTGLuminescence_20161124_001_P0010_11PB0010.txt",
    SCREENS / "screenwerk-envision-lum1536" / "0920A1.csv",
]


def _reads(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """{measurement: (signal, flag)} as a sample sheet would pick it: the only or
    default measurement under "", every measurement by name; None if refused."""
    try:
        _, measurements = read_measurements(path)
    except InputError:
        return None
    found = {m.name: (m.signal, m.flag) for m in measurements}
    try:
        chosen = choose_measurement(measurements, None, path=path)
        found[""] = (chosen.signal, chosen.flag)
    except InputError:
        pass
    return found


def _mark(path: Path) -> str | None:
    """The file's decimal mark, as its reader settled it."""
    try:
        if path in COURSE_FILES:
            measurements = read_checked(path, TIME_COURSE_REGISTRY[detect_time_course(path)])
        else:
            _, measurements = read_measurements(path)
    except InputError:
        return None
    return decimal_mark(set().union(*(m.styles for m in measurements)), file=path)


def _course_files() -> list[Path]:
    """The real time courses as read_time_course takes them (tests/test_kinetic.py):
    the IncuCyte export with the line end its last line lacks, the VICTOR X3
    file (two labels, refused as it is) as its one-label absorbance copy."""
    from test_kinetic import INCUCYTE, NIVO, SOFTMAX, SPARK, _x3_one_label

    folder = Path(tempfile.mkdtemp(prefix="courses-"))
    incucyte = folder / "incucyte.txt"
    incucyte.write_bytes((SCREENS.parent / INCUCYTE).read_bytes() + b"\r\n")
    x3 = _x3_one_label(SCREENS.parent, folder, slice(4, 6))
    return [incucyte, SCREENS.parent / SPARK, SCREENS.parent / NIVO, x3, SCREENS.parent / SOFTMAX]


def _course(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(signal, flag over time, row and column; time in hours); None if refused."""
    try:
        course = read_time_course(path)
    except InputError:
        return None
    return course.signal.values, course.flag.values, course["time"].values


BASELINES = {path: _reads(path) for path in FILES}
COURSE_FILES = _course_files()
COURSES = {path: _course(path) for path in COURSE_FILES}
MARKS = {path: _mark(path) for path in FILES + COURSE_FILES}
READABLE = [path for path, reads in BASELINES.items() if reads is not None]


# --- mutations: each takes the bytes and Hypothesis' data, returns the mutant ---


def _text_lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def truncate(data: bytes, draw) -> bytes:
    return data[: draw(st.integers(1, len(data) - 1))]


def truncate_at_line(data: bytes, draw) -> bytes:
    lines = _text_lines(data)
    return b"".join(lines[: draw(st.integers(1, max(1, len(lines) - 1)))])


def drop_line(data: bytes, draw) -> bytes:
    lines = _text_lines(data)
    del lines[draw(st.integers(0, len(lines) - 1))]
    return b"".join(lines)


def duplicate_line(data: bytes, draw) -> bytes:
    lines = _text_lines(data)
    index = draw(st.integers(0, len(lines) - 1))
    return b"".join(lines[: index + 1] + lines[index:])


def line_ends(data: bytes, draw) -> bytes:
    normal = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return normal.replace(b"\n", draw(st.sampled_from([b"\r", b"\r\n", b"\n"])))


def _number_spans(data: bytes) -> list[tuple[int, int]]:
    import re

    return [m.span() for m in re.finditer(rb"(?<![\w.,])\d+(?:\.\d+)?(?![\w.])", data)]


def _as_text(data: bytes) -> tuple[bytes, bool]:
    """UTF-16 exports as UTF-8 bytes, so that a mutation sees their characters."""
    utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
    return (data.decode("utf-16").encode() if utf16 else data), utf16


def _as_written(text: bytes, utf16: bool) -> bytes:
    return text.decode().encode("utf-16") if utf16 else text


def replace_number(data: bytes, draw) -> bytes:
    """One number in the text becomes a thousands-separated, huge, non-finite
    or marker value."""
    text, utf16 = _as_text(data)
    spans = _number_spans(text)
    if not spans:
        return data
    start, end = spans[draw(st.integers(0, len(spans) - 1))]
    new = draw(st.sampled_from([b'"1,414"', b"1,414", b"1e400", b"inf", b"NaN", b"OVRFLW", b"-", b"12.5.3", b""]))
    text = text[:start] + new + text[end:]
    return _as_written(text, utf16), new


def drop_block(data: bytes, draw) -> bytes:
    """A block lost: the lines from one blank line to the next (a result
    matrix, its title or its plate information)."""
    lines = _text_lines(data)
    blank = [i for i, line in enumerate(lines) if not line.strip(b"\r\n\x00\t,; ")]
    if not blank:
        return data
    start = draw(st.sampled_from(blank))
    end = next((i for i in blank if i > start), len(lines))
    return b"".join(lines[:start] + lines[end:])


def garble(data: bytes, draw) -> bytes:
    """Bytes no number holds, written somewhere: a disk or transfer error."""
    index = draw(st.integers(0, len(data) - 1))
    return data[:index] + draw(st.sampled_from([b"\x00", b"\xff", b"??", b"#"])) + data[index:]


def _delimiter(text: bytes) -> bytes:
    """The file's cell delimiter: the commonest of comma, semicolon and tab."""
    return max((b",", b";", b"\t"), key=text.count)


def lose_delimiter(data: bytes, draw) -> bytes:
    """One delimiter lost: two cells merged, the rest of the line shifted left."""
    text, utf16 = _as_text(data)
    delimiter = _delimiter(text)
    places = [i for i in range(len(text)) if text[i : i + 1] == delimiter]
    if not places:
        return data
    at = draw(st.sampled_from(places))
    return _as_written(text[:at] + text[at + 1 :], utf16)


def split_cell(data: bytes, draw) -> bytes:
    """A delimiter written inside a number: one cell split in two, the rest of
    the line shifted right."""
    text, utf16 = _as_text(data)
    spans = [(start, end) for start, end in _number_spans(text) if end - start > 1]
    if not spans:
        return data
    start, end = draw(st.sampled_from(spans))
    at = draw(st.integers(start + 1, end - 1))
    return _as_written(text[:at] + _delimiter(text) + text[at:], utf16)


def _rewrite_sheet(data: bytes, draw, change) -> bytes:
    """The workbook with one drawn worksheet's XML passed through ``change``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    sheets = [i.filename for i in source.infolist() if i.filename.startswith("xl/worksheets/sheet")]
    target_name = draw(st.sampled_from(sheets))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            member = source.read(item)
            target.writestr(item, change(member) if item.filename == target_name else member)
    return out.getvalue()


def xlsx_member(data: bytes, draw) -> bytes:
    """A workbook whose sheet XML is cut, or whose worksheet lost rows."""
    return _rewrite_sheet(data, draw, lambda member: member[: draw(st.integers(0, len(member) - 1))])


def xlsx_drop_row(data: bytes, draw) -> bytes:
    """A workbook that lost one row of a sheet (still a valid workbook)."""
    import re

    def drop_row(member: bytes) -> bytes:
        rows = list(re.finditer(rb"<row [^>]*?(?:/>|>.*?</row>)", member, re.DOTALL))
        if not rows:
            return member
        start, end = rows[draw(st.integers(0, len(rows) - 1))].span()
        return member[:start] + member[end:]

    return _rewrite_sheet(data, draw, drop_row)


TEXT_MUTATIONS = [truncate, truncate_at_line, drop_line, drop_block, duplicate_line, line_ends, replace_number,
                  garble, lose_delimiter, split_cell]
XLSX_MUTATIONS = [truncate, xlsx_member, xlsx_drop_row, xlsx_drop_row, garble]
# An XML file loses no lines but its end: a lost line inside an element can
# move a value into the element before it, which no XML reader could notice.
XML_MUTATIONS = [truncate, line_ends, replace_number, garble]


def _refused(mutant: Path, error: InputError) -> str:
    assert error.file == str(mutant) and str(mutant) in str(error), error
    return "refused"


def _changed(got: np.ndarray, was: np.ndarray) -> np.ndarray:
    """Where ``got`` differs from ``was`` (NaN equal to NaN)."""
    return ~((got == was) | np.isnan(got) & np.isnan(was))


def verdict(path: Path, mutant: Path, allowed: set[float] = frozenset()) -> str:
    """"refused", "same", "flagged" or "wrong: ..." for one mutant of ``path``;
    ``allowed``: the values a changed well may take (what the mutant writes)."""
    try:
        _, measurements = read_measurements(mutant)
    except InputError as error:
        return _refused(mutant, error)
    outcome = "same"
    for name, (signal, flag) in BASELINES[path].items():
        try:
            got = choose_measurement(measurements, name or None, path=mutant)
        except InputError:
            continue  # the sample sheet's choice would be refused
        if name and got.name != name:
            continue  # found by a looser match: another measurement's check
        if got.signal.shape != signal.shape:
            return f"wrong: measurement {name!r} is {got.signal.shape} instead of {signal.shape}"
        same = ~_changed(got.signal, signal) & (got.flag == flag)
        unflagged = ~same & (got.flag == "") & ~np.isin(got.signal, list(allowed))
        if unflagged.any():
            r, c = np.argwhere(unflagged)[0]
            return f"wrong: measurement {name!r} row {r} column {c}: {got.signal[r, c]} instead of {signal[r, c]}"
        if not same.all():
            outcome = "flagged"
    return outcome


# Readers whose files do not say how many scans they hold: an IncuCyte export
# ends with its last scan line and may scan at any schedule, so a file cut at a
# line end, or without one scan line, is a shorter run's export as it stands.
UNCOUNTED_SCANS = {"incucyte"}


def course_verdict(path: Path, mutant: Path, allowed: set[float] = frozenset()) -> str:
    """The same verdict for a time course: a changed value at any (time, well),
    or a changed time stamp (every well of its scan then changed), unflagged is
    wrong; so is a scan lost or gained that the reader did not refuse, but for
    an UNCOUNTED_SCANS reader: "scans lost" if every scan read is one of the
    file's, at its time, with its values."""
    try:
        course = read_time_course(mutant)
    except InputError as error:
        return _refused(mutant, error)
    signal, flag, time = COURSES[path]
    got_signal, got_flag, got_time = course.signal.values, course.flag.values, course["time"].values
    lost = ""
    if (course.attrs["reader"] in UNCOUNTED_SCANS and got_signal.shape[1:] == signal.shape[1:]
            and len(got_time) < len(time) and np.isin(got_time, time).all()):
        kept = np.isin(time, got_time)
        signal, flag, time, lost = signal[kept], flag[kept], time[kept], "scans lost"
    if got_signal.shape != signal.shape:
        return f"wrong: signal is {got_signal.shape} instead of {signal.shape} (time, row, column)"
    moved = _changed(got_time, time)
    changed = _changed(got_signal, signal) & ~np.isin(got_signal, list(allowed))
    unflagged = (changed | moved[:, None, None]) & (got_flag == "")
    if unflagged.any():
        t, r, c = np.argwhere(unflagged)[0]
        return (f"wrong: scan {t} row {r} column {c}: {got_signal[t, r, c]} at {got_time[t]:g} h "
                f"instead of {signal[t, r, c]} at {time[t]:g} h")
    if (got_flag == flag).all() and not _changed(got_signal, signal).any():
        return lost or "same"
    return "flagged"


def mutate(path: Path, data_strategy, tmp: Path) -> tuple[str, Path, set[float]]:
    """(mutation, mutant file, values a changed well may rightly take)."""
    data = path.read_bytes()
    mutations = XLSX_MUTATIONS if data[:2] == b"PK" else XML_MUTATIONS if path.suffix == ".xml" else TEXT_MUTATIONS
    mutation = data_strategy.draw(st.sampled_from(mutations))
    mutant = tmp / f"mutant{path.suffix}"
    written = mutation(data, data_strategy.draw)
    allowed: set[float] = set()
    if isinstance(written, tuple):  # a number replaced: "1,414" is read by the file's one decimal mark
        written, new = written
        if b"1,414" in new and MARKS[path]:
            allowed = {1414.0, -1414.0} if MARKS[path] == "." else {1.414, -1.414}
    mutant.write_bytes(written)
    return mutation.__name__, mutant, allowed


def run(path: Path, tmp: Path, examples: int, record) -> None:
    """Hypothesis draws ``examples`` mutants of ``path``; ``record(mutation, verdict)`` judges each
    (a time course's by course_verdict)."""
    judge = course_verdict if path in COURSES else verdict

    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data):
        mutation, mutant, allowed = mutate(path, data, tmp)
        record(f"{mutation} of {path.name}", judge(path, mutant, allowed))

    check()


def refuse_wrong(what: str, result: str) -> None:
    assert not result.startswith("wrong"), f"{what}: {result}"


@pytest.mark.parametrize("path", READABLE, ids=[p.name for p in READABLE])
def test_mutants_are_read_right_flagged_or_refused(path, tmp_path):
    run(path, tmp_path, 20, refuse_wrong)


@pytest.mark.parametrize("path", COURSE_FILES, ids=[p.name for p in COURSE_FILES])
def test_time_course_mutants_are_read_right_flagged_or_refused(path, tmp_path):
    assert COURSES[path] is not None, f"{path.name} is not read as a time course"
    run(path, tmp_path, 20, refuse_wrong)


LAYOUTS = (sorted((REPO / "tests" / "data" / "layouts").iterdir())
           + sorted((REPO / "example" / "screen" / "layouts").iterdir()))


@pytest.mark.parametrize("path", LAYOUTS, ids=[p.name for p in LAYOUTS])
def test_layout_mutants_raise_only_input_errors(path, tmp_path):
    """A layout has no flags, and a lost line is a well it no longer names; but
    nothing a damaged layout holds may reach the user as a traceback."""
    from pdoscreen.geometry import geometry_for
    from pdoscreen.layouts import read_layout

    @settings(max_examples=15, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data):
        mutation = data.draw(st.sampled_from(TEXT_MUTATIONS))
        written = mutation(path.read_bytes(), data.draw)
        mutant = tmp_path / path.name
        mutant.write_bytes(written[0] if isinstance(written, tuple) else written)
        try:
            read_layout(mutant, geometry_for(384))
        except InputError as error:
            assert error.file == str(mutant), error

    check()


def test_the_suite_covers_every_reader():
    from pdoscreen.readers import REGISTRY, detect

    assert {detect(p) for p in READABLE} == set(REGISTRY)
    assert {detect_time_course(p) for p in COURSE_FILES} == set(TIME_COURSE_REGISTRY)


if __name__ == "__main__":  # the longer run: the reliability figures of docs/readers.md
    import logging

    logging.disable(logging.WARNING)  # partial-plate warnings, one per mutant

    # python tests/test_mutations.py [N] [endpoints|courses]: N mutants per file, of
    # the endpoint files, the time courses or (without a second argument) both.
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    kinds = {"endpoints": READABLE, "time courses": COURSE_FILES}
    if len(sys.argv) > 2:
        kinds = {k: v for k, v in kinds.items() if sys.argv[2] in k}
    for kind, paths in kinds.items():
        tally: Counter = Counter()
        wrong: list[str] = []

        def record(what: str, result: str) -> None:
            tally[result.split(":")[0]] += 1
            if result.startswith("wrong"):
                wrong.append(f"{what}: {result}")

        with tempfile.TemporaryDirectory() as folder:
            for path in paths:
                run(path, Path(folder), examples, record)
        print(f"{kind}: {sum(tally.values())} mutants of {len(paths)} files:", dict(tally))
        print("\n".join(wrong))
