"""Command line: the entry points the workflow's rules call."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .errors import InputError


def _ingest(args: argparse.Namespace) -> None:
    from .ingest import ingest_plates
    from .samplesheet import load_sample_sheet

    ingest_plates(load_sample_sheet(args.sheet), args.plates, args.out_dir)


def _screen(args: argparse.Namespace) -> None:
    from .samplesheet import load_sample_sheet
    from .screen import build_screen, summarise
    from .store import open_zarr, write_zarr_atomic

    sheet = load_sample_sheet(args.sheet)
    plates = {p: open_zarr(Path(args.plates_dir) / f"{p}.zarr") for p in sheet["plate"]}
    screen = build_screen(sheet, plates)
    write_zarr_atomic(screen, args.out)
    summary = f"screen store {args.out}: {summarise(screen)}"
    logging.getLogger("pdoscreen").info(summary)
    if args.summary:
        Path(args.summary).write_text(summary + "\n")


def _readers(args: argparse.Namespace) -> None:
    from .readers import REGISTRY

    for name, reader in sorted(REGISTRY.items()):
        print(f"{name:24s} {reader.description}")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="pdoscreen", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="read plate-reader exports into per-plate Zarr stores")
    ingest.add_argument("--sheet", required=True, help="sample sheet (TSV)")
    ingest.add_argument("--out-dir", required=True, help="folder for {plate}.zarr")
    ingest.add_argument("plates", nargs="+", help="plate ids to ingest")
    ingest.set_defaults(run=_ingest)

    screen = commands.add_parser("screen", help="join plates, layouts and sample sheet into the screen store")
    screen.add_argument("--sheet", required=True)
    screen.add_argument("--plates-dir", required=True)
    screen.add_argument("--out", required=True)
    screen.add_argument("--summary", help="also write the one-line summary here")
    screen.set_defaults(run=_screen)

    readers = commands.add_parser("readers", help="list the plate-reader formats")
    readers.set_defaults(run=_readers)
    return main


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except InputError as error:
        logging.getLogger("pdoscreen").error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
