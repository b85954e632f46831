"""What one gradient of a drug's log density costs, and how much of it the
wells pay: the drug's data padded to several well counts, each gradient timed
in a compiled loop, beside the number of compiled kernels (XLA fusions) the
gradient runs. A cost that does not grow with the wells is the kernels'
fixed cost on CPU, which fewer padded wells do not reduce.

    python benchmarks/gradient.py --results results --drug Afatinib

``--results`` is a workflow's results folder (`make demo` leaves the
example's). The loop runs the gradient 3,000 times; the best of ``--repeats``
loops is reported, since this is for an otherwise idle machine whose timings
still vary by a third from run to run.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import time

from centring import drug_data

LOOP = 3000


def padded(data, n_wells: int):
    """``data`` with its wells padded (mask False) or cut to ``n_wells``."""
    import numpy as np

    def fit(values, fill):
        values = np.asarray(values)
        if n_wells <= len(values):
            return values[:n_wells]
        return np.concatenate([values, np.full(n_wells - len(values), fill, dtype=values.dtype)])

    return dataclasses.replace(data, x=fit(data.x, data.x[0]), y=fit(data.y, 1.0), plate=fit(data.plate, 0),
                               mask=fit(data.mask, False))


def gradient_program(data, settings):
    """The compiled value and gradient of the potential over one flat vector, as
    sampling.FlatNUTS evaluates it, and a start."""
    import jax
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.util import initialize_model

    from pdoscreen import sampling

    model = sampling.configured_model(settings)
    info = initialize_model(jax.random.PRNGKey(0), model, model_args=(data,), dynamic_args=True)
    start, unravel = ravel_pytree(info.param_info.z)

    def value_and_grad(flat, data):
        return jax.value_and_grad(lambda flat: info.potential_fn(data)(unravel(flat)))(flat)

    def loop(flat, data):
        def one(flat, _):
            value, grad = value_and_grad(flat, data)
            return flat + 1e-12 * grad, value  # depends on the gradient, so none is skipped
        return jax.lax.scan(one, flat, None, length=LOOP)

    return jax.jit(value_and_grad), jax.jit(loop), start


def kernels(program, start, data) -> int:
    """Fusions (compiled kernels) in the program's entry computation."""
    text = program.lower(start, data).compile().as_text()
    entry = text[text.index("ENTRY"):]
    return sum(bool(re.search(r"= \S+ fusion\(", line)) for line in entry.splitlines())


def best_seconds(loop, start, data, repeats: int) -> float:
    import jax

    jax.block_until_ready(loop(start, data))
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        jax.block_until_ready(loop(start, data))
        best = min(best, time.perf_counter() - began)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="results", help="a workflow's results folder")
    parser.add_argument("--drug", required=True)
    parser.add_argument("--wells", default="64,320,1280,5120", help="padded well counts to time")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import numpyro

    from pdoscreen.fit import FitSettings

    numpyro.enable_x64()
    data, _ = drug_data(args.results, args.drug)
    settings = FitSettings()
    print(f"{args.drug}: {int(data.mask.sum())} wells, padded to {data.x.shape[0]} for its fits")
    print("| wells as sampled | µs per value and gradient | compiled kernels |")
    print("|---|---|---|")
    for n_wells in map(int, args.wells.split(",")):
        at_size = padded(data, n_wells)
        program, loop, start = gradient_program(at_size, settings)
        seconds = best_seconds(loop, start, at_size, args.repeats)
        print(f"| {n_wells:,} | {1e6 * seconds / LOOP:.1f} | {kernels(program, start, at_size)} |", flush=True)


if __name__ == "__main__":
    main()
