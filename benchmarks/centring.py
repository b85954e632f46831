"""Leapfrog steps and divergences of the first ladder rung under other centring
rules, drug by drug, on a screen the workflow has ingested and checked
(`make demo` leaves the example's in `results/`).

    python benchmarks/centring.py --drugs Afatinib,Bortezomib --rules weights,binary,weights@0.25

Rules: `binary` is the default (parametrisation.py: an element wholly centred
where its data weight at tau's 5% bound exceeds 0.7, else z-scores); `weights`
centres each element partly, by that data weight itself (docs/model.md, tried
and not taken); `weights@q` judges the weight at tau's q bound instead
(`weights@1` at tau's estimate). `--target` sets the target
acceptance. Every rule runs the rung once (4 chains x 200 + 250 draws by
default, no extension), so the steps per draw and divergences compare the
geometries; the seconds include compiling and compare only on an idle machine.
"""

from __future__ import annotations

import argparse
import time


def weights(data, settings, seed: int, rule: str):
    """The centring weights of ``rule`` for one drug's model data."""
    import jax

    from pdoscreen import parametrisation, sampling

    name, _, quantile = rule.partition("@")
    saved = parametrisation.LOWER_QUANTILE, parametrisation.tau_lower_ratio
    if quantile:  # the same rule, tau judged at another bound (at 1: tau's estimate itself)
        parametrisation.LOWER_QUANTILE = float(quantile)
        if float(quantile) >= 1:
            parametrisation.tau_lower_ratio = lambda df: 1.0
    try:
        chosen = sampling.choose_parametrisation(data, settings, jax.random.PRNGKey(seed))
    finally:
        parametrisation.LOWER_QUANTILE, parametrisation.tau_lower_ratio = saved
    if name == "binary":
        return chosen.centred
    df = parametrisation.degrees_of_freedom(data)  # a level with df < 1 stays in z-scores
    return {site: kappa * (df[site] >= 1) for site, kappa in chosen.kappa.items()}


def drug_data(results: str, drug: str):
    """One drug's padded model data and index, from a workflow's results folder."""
    import pandas as pd

    from pdoscreen.fit import drug_wells, model_data
    from pdoscreen.qc import plates_to_fit
    from pdoscreen.store import open_zarr

    screen = open_zarr(f"{results}/screen.zarr")
    priors = pd.read_csv(f"{results}/fits/plate_priors.tsv", sep="\t")
    return model_data(drug_wells(screen, drug, plates_to_fit(f"{results}/qc/plates.tsv")), priors)


def first_rung(data, index, drug: str, rule: str, target: float) -> dict:
    import jax

    from pdoscreen import sampling
    from pdoscreen.checks import diagnostics, draws_as_inference_data
    from pdoscreen.fit import FitSettings, drug_seed, unpad

    settings = FitSettings(target_accept=target)
    seed = drug_seed(settings.seed, drug)
    start = time.perf_counter()
    centred = weights(data, settings, seed, rule)
    rung = sampling.ladder(settings)[0]
    mcmc = sampling._run_nuts(sampling.with_centring(data, centred), settings, rung, jax.random.PRNGKey(seed), False)
    samples, stats = sampling._collect(mcmc)
    table = diagnostics(draws_as_inference_data(unpad(samples, index), stats)).set_index("group")
    return {"steps": float(stats["n_steps"].mean()), "divergences": int(stats["diverging"].sum()),
            "scales_ess": float(min(table.loc["scales", ["ess_bulk_min", "ess_tail_min"]])),
            "wall_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="results")
    parser.add_argument("--drugs", type=lambda t: t.split(","), required=True)
    parser.add_argument("--rules", type=lambda t: t.split(","), default=["binary", "weights"])
    parser.add_argument("--target", type=float, default=0.9)
    args = parser.parse_args()
    print(f"target acceptance {args.target}\n\n| drug | rule | leapfrog steps per draw | divergences "
          "| min ESS of the scales | wall s |\n|---|---|---|---|---|---|")
    import numpyro

    numpyro.enable_x64()
    for drug in args.drugs:
        data, index = drug_data(args.results, drug)
        for rule in args.rules:
            r = first_rung(data, index, drug, rule, args.target)
            print(f"| {drug} | {rule} | {r['steps']:.0f} | {r['divergences']} | {r['scales_ess']:.0f} "
                  f"| {r['wall_s']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
