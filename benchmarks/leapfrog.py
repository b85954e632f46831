"""What one leapfrog step costs: numpyro's NUTS over the model's sites against
sampling.FlatNUTS (the same sampler over one vector), drug by drug, on a
screen the workflow has ingested and checked (`make demo` leaves the example's
in `results/`).

    python benchmarks/leapfrog.py --drugs SN-38,Afatinib

Each kernel runs the first ladder rung's sampler from the same start (the
chosen parametrisation, chains and mass matrix from the SVI fit, one seed):
warm-up and draws once, then the draws twice more from where they stopped;
the last run is timed, with the seconds JAX spent tracing and compiling in it
taken out. Both kernels must give the same draws bit for bit: the table says
whether they did. Run it on an otherwise idle machine; the ratio is what
carries over.
"""

from __future__ import annotations

import argparse
import collections
import time

COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration")


def _compile_clock():
    """Seconds JAX has spent tracing, lowering and compiling so far."""
    import jax.monitoring

    seconds = collections.Counter()
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, secs, **_: seconds.update({name: secs}) if name in COMPILE_EVENTS else None)
    return lambda: sum(seconds.values())


def _drug_data(results: str, drug: str):
    import pandas as pd

    from pdoscreen.fit import drug_wells, model_data
    from pdoscreen.store import open_zarr

    plates = list(pd.read_csv(f"{results}/qc/plates.tsv", sep="\t").query("fit").plate)
    priors = pd.read_csv(f"{results}/fits/plate_priors.tsv", sep="\t")
    data, _ = model_data(drug_wells(open_zarr(f"{results}/screen.zarr"), drug, plates), priors)
    return data


def run_kernel(kernel_class, data, settings, seed: int, compile_seconds) -> dict:
    """Warm-up and draws, two more runs of draws; the last one timed."""
    import jax
    import numpy as np
    from numpyro.infer import MCMC, init_to_median

    from pdoscreen import sampling

    key = jax.random.PRNGKey(seed)
    data = sampling.with_centring(data, sampling.choose_parametrisation(data, settings, key).centred)
    program = sampling._program("svi", settings, sampling._svi_program, data)
    params, _ = program.optimise(key, data)
    start, inverse_mass = program.start(key, params, data, settings.chains)
    kernel = kernel_class(sampling.configured_model(settings), target_accept_prob=settings.target_accept,
                          inverse_mass_matrix=inverse_mass, init_strategy=init_to_median(num_samples=15))
    mcmc = MCMC(kernel, num_warmup=settings.warmup, num_samples=settings.draws, num_chains=settings.chains,
                chain_method="sequential", progress_bar=False, jit_model_args=True)
    mcmc.run(key, data, init_params=start, extra_fields=("num_steps",))
    for timed in (False, True):
        mcmc.post_warmup_state = mcmc.last_state
        compiled_before, began = compile_seconds(), time.perf_counter()
        mcmc.run(mcmc.post_warmup_state.rng_key, data, extra_fields=("num_steps",))
        draws = jax.block_until_ready(mcmc.get_samples())
        seconds = time.perf_counter() - began - (compile_seconds() - compiled_before)
    steps = int(np.asarray(mcmc.get_extra_fields()["num_steps"]).sum())
    return {"seconds": seconds, "steps": steps, "draws": {k: np.asarray(v) for k, v in draws.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="results", help="a workflow's results folder")
    parser.add_argument("--drugs", required=True, help="comma-separated drug names")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--chains", type=int, default=2)
    args = parser.parse_args()

    import numpy as np
    import numpyro
    from numpyro.infer import NUTS

    from pdoscreen.fit import FitSettings
    from pdoscreen.sampling import FlatNUTS

    numpyro.enable_x64()
    compile_seconds = _compile_clock()
    settings = FitSettings(chains=args.chains)
    print("| drug | leapfrog steps | per-site NUTS: µs per step | FlatNUTS: µs per step | ratio | same draws |")
    print("|---|---|---|---|---|---|")
    for drug in args.drugs.split(","):
        data = _drug_data(args.results, drug)
        sites, flat = (run_kernel(kind, data, settings, args.seed, compile_seconds) for kind in (NUTS, FlatNUTS))
        same = sites["steps"] == flat["steps"] and all(
            np.array_equal(sites["draws"][k], flat["draws"][k]) for k in sites["draws"])
        per_step = {name: 1e6 * run["seconds"] / run["steps"] for name, run in (("sites", sites), ("flat", flat))}
        print(f"| {drug} | {flat['steps']:,} | {per_step['sites']:.0f} | {per_step['flat']:.0f} | "
              f"{per_step['sites'] / per_step['flat']:.2f} | {'yes' if same else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
