"""What a drug costs when it is not the first its process fits: drugs of the
medium benchmark screen (compare.py's design, seed 7) fitted one after another
with the default settings in one process, each with its seconds, ladder rung,
draws per chain and JAX's compile events (tracing, lowering, compiling or
loading from the on-disk cache) as `jax.monitoring` reports them.

    python benchmarks/one_process.py --drugs D004,D000,D001 --jax-cache /tmp/one_process_cache

To compare with another commit, check it out beside this one and put its
`src` first on the path: `PYTHONPATH=/tmp/old/src python benchmarks/one_process.py ...`.
The first drug pays for every program; the later ones show what a process
that fits several drugs (the benchmarks, the tests) pays per drug.
"""

from __future__ import annotations

import argparse
import collections
import time

import jax

from compare import JAX_COMPILE_EVENTS, plates_of_drugs, simulated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drugs", default="D004,D000,D001")
    parser.add_argument("--jax-cache", required=True, help="persistent compile cache (warm it with a first run)")
    args = parser.parse_args()
    jax.config.update("jax_compilation_cache_dir", args.jax_cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    import pdoscreen.sampling
    from pdoscreen.fit import FitSettings, fit_drug, plate_priors

    screen, _ = simulated("medium", 7)
    priors, plates = plate_priors(screen), plates_of_drugs(screen)
    events, seconds = collections.Counter(), collections.Counter()

    def listen(event: str, duration: float, **_) -> None:
        if event in JAX_COMPILE_EVENTS:
            events[event] += 1
            seconds[event] += duration

    jax.monitoring.register_event_duration_secs_listener(listen)
    print(f"pdoscreen from {pdoscreen.sampling.__file__}")
    print("| drug | s | rung | draws per chain | compile events | compile s (events nest) |")
    print("|---|---|---|---|---|---|")
    for drug in args.drugs.split(","):
        events.clear()
        seconds.clear()
        begun = time.perf_counter()
        idata = fit_drug(screen, drug, priors, plates[drug], FitSettings())
        print(f"| {drug} | {time.perf_counter() - begun:.1f} | {idata.posterior.attrs['fit_rung']} | "
              f"{idata.posterior.sizes['draw']} | {sum(events.values())} | {sum(seconds.values()):.1f} |", flush=True)


if __name__ == "__main__":
    main()
