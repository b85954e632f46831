"""One ladder rung, run alone on drugs a workflow has ingested and checked:
would another rung pass them, and at what cost?

``--rung`` picks a rung of the ladder (sampling.ladder), ``--target``
optionally sets another target acceptance for it. It runs as the ladder runs
its rungs (started from SVI, extended while on course, every chain run) with
the random key the ladder gives its ``--as-run``-th run (by default the
rung's number, as when every rung before it ran), so a rung tried in place of
a later one meets the chains that one met.

    python benchmarks/one_rung.py --work /tmp/tw/work --drugs Doxorubicin,Vorinostat \\
        --fit-seed 20261126 --rung 4

``--work`` is a workflow's working folder run as far as its plate priors
(benchmarks/first_target.py's docstring says how). Prints per drug the rung's
seconds (with loading or compiling its programs), leapfrog steps per draw,
draws per chain, divergent transitions, and its path as a fit records it.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from centring import drug_data


def run_rung(work: str, drug: str, settings, rung, as_run: int) -> dict:
    import jax

    from pdoscreen import sampling
    from pdoscreen.fit import drug_seed, nuts_check

    data, index = drug_data(f"{work}/results", drug)
    key_choose, key = jax.random.split(jax.random.PRNGKey(drug_seed(settings.seed, drug)))
    chosen = sampling.choose_parametrisation(data, settings, key_choose)
    for _ in range(as_run):  # as sampling.sample_nuts draws one key per rung it runs
        key, key_rung = jax.random.split(key)
    used = rung.parametrise(chosen)
    begun = time.perf_counter()
    samples, stats, path, passed = sampling._run_rung(sampling.with_centring(data, used.centred), settings, rung,
                                                      as_run, nuts_check(index), key_rung, f"drug {drug}")
    return {"drug": drug, "s": time.perf_counter() - begun, "steps": float(stats["n_steps"].mean()),
            "draws": samples["mu_c"].shape[1], "divergent": int(stats["diverging"].sum()), "passed": passed,
            "path": " | ".join(path)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, help="a workflow's working folder, run to its plate priors")
    parser.add_argument("--drugs", required=True, help="comma-separated drug names")
    parser.add_argument("--fit-seed", type=int, help="fit.seed (default: the configuration's)")
    parser.add_argument("--rung", type=int, default=4, help="the ladder's rung to run, from 1")
    parser.add_argument("--target", type=float, help="another target acceptance for it")
    parser.add_argument("--as-run", type=int, help="the ladder's run whose random key it takes (default: --rung)")
    parser.add_argument("--jax-cache", default=None, help="a persistent compile cache folder")
    args = parser.parse_args()

    import jax
    import numpyro

    from pdoscreen import sampling
    from pdoscreen.fit import FitSettings

    numpyro.enable_x64()  # as fit.fit_drug runs
    if args.jax_cache:
        jax.config.update("jax_compilation_cache_dir", args.jax_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    settings = FitSettings() if args.fit_seed is None else FitSettings(seed=args.fit_seed)
    rung = sampling.ladder(settings)[args.rung - 1]
    if args.target is not None:
        rung = replace(rung, target_accept=args.target)
    print("| drug | rung, target | s | leapfrog steps per draw | draws per chain | divergent | passed |")
    print("|---|---|---|---|---|---|---|")
    for drug in args.drugs.split(","):
        r = run_rung(args.work, drug, settings, rung, args.as_run or args.rung)
        print(f"| {drug} | {args.rung}, {rung.target_accept} | {r['s']:.0f} | {r['steps']:.0f} | {r['draws']} | "
              f"{r['divergent']} | {'yes' if r['passed'] else 'no'} |", flush=True)
        print(f"  path: {r['path']}", flush=True)


if __name__ == "__main__":
    main()
