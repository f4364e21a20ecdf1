#!/usr/bin/env python3
"""Health-model cost: seconds per VM-sample and memory per VM model, the way a sweep feeds it.

    python bench/health.py [--vms 200] [--counters 6] [--rounds 50]

Each VM's model is fitted (``fit``: the samples one by one into its history, then a training) on
7 days of 5-minute samples of ``--counters`` counters, then every round gives each VM one new
sample through ``VmHealthModel.score`` (the sweep's path: one sample per VM per round). Memory
per model is the size of its pickle (what the models file holds per VM).
Prints a table and, last, ``cost_per_vm_sample_ms=<ms> memory_per_model_kb=<kB>
round_10000_vms_s=<s> with_refits_s=<s>`` (extrapolated linearly from the measured costs, one core;
the last adds the refits: each VM refits (``retrain``, timed as ``refit_s_per_vm``) once per
``retrain_every``, i.e. 1/288 of the fleet per 5-minute round).
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsphere_dr.health_model import HealthModelConfig, Sample, VmHealthModel  # noqa: E402
from vsphere_dr.table import render_table  # noqa: E402

START = datetime(2024, 3, 4)
STEP = timedelta(minutes=5)


def series(rng: np.random.Generator, n: int, counters: int) -> np.ndarray:
    cycle = np.sin(2 * np.pi * np.arange(n) / 288)
    return 40 + 10 * cycle[:, None] + rng.normal(0, 2, (n, counters))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=200)
    parser.add_argument("--counters", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args(argv)
    config = HealthModelConfig()
    rng = np.random.default_rng(0)
    names = [f"counter{i}" for i in range(args.counters)]
    models, futures = [], []
    fit_started = time.process_time()
    for _ in range(args.vms):
        values = series(rng, config.max_history + args.rounds, args.counters)
        samples = [Sample(START + i * STEP, dict(zip(names, row))) for i, row in enumerate(values)]
        model = VmHealthModel(config)
        model.fit(samples[:config.max_history])
        models.append(model)
        futures.append(samples[config.max_history:])
    fit_seconds = (time.process_time() - fit_started) / args.vms
    refit_started = time.process_time()
    for model in models:
        model.retrain()  # the daily path: refit on the history the model holds
    refit_seconds = (time.process_time() - refit_started) / args.vms
    score_started = time.process_time()
    for r in range(args.rounds):
        for model, samples in zip(models, futures):
            model.score(samples[r])
    per_sample = (time.process_time() - score_started) / (args.vms * args.rounds)
    refits_per_round = STEP / config.retrain_every  # share of the fleet refitted each round
    with_refits = per_sample + refits_per_round * refit_seconds
    memory_kb = float(np.mean([len(pickle.dumps(m, protocol=pickle.HIGHEST_PROTOCOL)) for m in models])) / 1024
    print(render_table(["vms", "counters", "rounds", "fit_s_per_vm", "refit_s_per_vm", "score_ms_per_vm_sample",
                        "with_refits_ms_per_vm_sample", "model_kb"],
                       [[args.vms, args.counters, args.rounds, f"{fit_seconds:.4f}", f"{refit_seconds:.4f}",
                         f"{per_sample * 1e3:.3f}", f"{with_refits * 1e3:.3f}", f"{memory_kb:.1f}"]]))
    print(f"cost_per_vm_sample_ms={per_sample * 1e3:.3f} memory_per_model_kb={memory_kb:.1f} "
          f"round_10000_vms_s={per_sample * 10_000:.2f} with_refits_s={with_refits * 10_000:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
