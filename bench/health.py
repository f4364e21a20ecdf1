#!/usr/bin/env python3
"""Health-model cost: seconds per VM-sample, memory per VM model, and a warm fleet's RSS.

    python bench/health.py [--vms 200] [--counters 6] [--rounds 50] [--fleet 10000] [--fleet-rounds 13]

Part one: each of ``--vms`` models is fitted (``fit``: the samples one by one into its history,
then a training) on 7 days of 5-minute samples of ``--counters`` counters, then every round gives
each VM one new sample through ``VmHealthModel.score`` (the sweep's path: one sample per VM per
round). ``model_kb`` is the size of a model's pickle with its history in memory; ``models_file_kb``
what the models file holds per VM (``HealthModelStore.save``: no history rows, they are in ring files).

Part two (``--fleet`` VMs, 0 skips it): the RSS of a warm fleet and the cost of saving its models,
each kind of history in a process of its own. ``memory``: the models in a store without a file
(the history in the process, as every store kept it before), pickled whole after every round;
``file``: a store with a models file, loaded by a new process as the daemon does after a restart
(the histories in ring files), saved after every round (as the daemon did before
``[health] save_interval_seconds``) or as the daemon does now (``HealthWatch.save_if_due``, the
rounds 300 s apart: at the save interval and after a round with many refits). Each process runs
``--fleet-rounds`` scoring rounds (every VM one sample), a refit round (every model ``retrain``s,
which reads its history, and is then one more scoring round), and reports its resident set
(VmRSS, after a garbage collection), its peak (VmHWM), the RSS of Python with numpy and
scikit-learn loaded before any model, one whole save (``save_s``), how many rounds saved and the
save time per round (``save_ratio``: against the file store saved every round). The fleet is ``min(50, --fleet)`` fitted models, each deep-copied to the
fleet's size (their verdicts are beside the point; their memory is that of distinct models).

Prints two tables and, last, ``cost_per_vm_sample_ms=<ms> memory_per_model_kb=<kB>
round_10000_vms_s=<s> with_refits_s=<s>`` (extrapolated linearly from the measured costs, one core;
the last adds the refits: each VM refits (``retrain``, timed as ``refit_s_per_vm``) once per
``retrain_every``, i.e. 1/288 of the fleet per 5-minute round), followed, with a fleet, by
`` warm_rss_mb_memory=<MB> warm_rss_mb_file=<MB>`` on the same line.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsphere_dr.health_history import history_dir  # noqa: E402
from vsphere_dr.health_model import HealthModelConfig, HealthModelStore, Sample, VmHealthModel  # noqa: E402
from vsphere_dr.health_watch import HealthWatch  # noqa: E402
from vsphere_dr.settings import HealthSettings  # noqa: E402
from vsphere_dr.table import render_table  # noqa: E402

START = datetime(2024, 3, 4)
STEP = timedelta(minutes=5)
FLEET_MODELS = 50  # distinct fitted models a fleet is copied from


def series(rng: np.random.Generator, n: int, counters: int) -> np.ndarray:
    cycle = np.sin(2 * np.pi * np.arange(n) / 288)
    return 40 + 10 * cycle[:, None] + rng.normal(0, 2, (n, counters))


def to_samples(values: np.ndarray, first: int = 0) -> list[Sample]:
    """Samples of rows ``first`` on, 5 minutes apart."""
    names = [f"counter{i}" for i in range(values.shape[1])]
    return [Sample(START + i * STEP, dict(zip(names, values[i]))) for i in range(first, len(values))]


def cost(args: argparse.Namespace, config: HealthModelConfig) -> dict[str, float]:
    """Part one: fit, refit and score ``args.vms`` models in this process."""
    rng = np.random.default_rng(0)
    models, futures = [], []
    fit_started = time.process_time()
    for _ in range(args.vms):
        samples = to_samples(series(rng, config.max_history + args.rounds, args.counters))
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
    model_kb = float(np.mean([len(pickle.dumps(m, protocol=pickle.HIGHEST_PROTOCOL)) for m in models])) / 1024
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "health-models.pkl"
        HealthModelStore(config, {f"vm-{i}": m for i, m in enumerate(models)}).save(path)
        models_file_kb = path.stat().st_size / 1024 / args.vms
    print(render_table(["vms", "counters", "rounds", "fit_s_per_vm", "refit_s_per_vm", "score_ms_per_vm_sample",
                        "with_refits_ms_per_vm_sample", "model_kb", "models_file_kb"],
                       [[args.vms, args.counters, args.rounds, f"{fit_seconds:.4f}", f"{refit_seconds:.4f}",
                         f"{per_sample * 1e3:.3f}", f"{with_refits * 1e3:.3f}", f"{model_kb:.1f}",
                         f"{models_file_kb:.1f}"]]))
    return {"per_sample": per_sample, "with_refits": with_refits, "model_kb": model_kb}


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fleet_series(args: argparse.Namespace, config: HealthModelConfig) -> list[np.ndarray]:
    """The distinct models' counters: a week to fit on, then a sample per round."""
    rng = np.random.default_rng(1)
    n = config.max_history + args.fleet_rounds + 1
    return [series(rng, n, args.counters) for _ in range(min(FLEET_MODELS, args.fleet))]


def fleet_futures(args: argparse.Namespace, config: HealthModelConfig) -> list[list[Sample]]:
    """Each VM's samples for the rounds (those of the model it is a copy of)."""
    rounds = [to_samples(values, config.max_history) for values in fleet_series(args, config)]
    return [rounds[i % len(rounds)] for i in range(args.fleet)]


def build_fleet(args: argparse.Namespace, config: HealthModelConfig) -> HealthModelStore:
    """A store without a file of ``args.fleet`` fitted models (copies of FLEET_MODELS distinct ones)."""
    bases = []
    for values in fleet_series(args, config):
        model = VmHealthModel(config)
        model.fit(to_samples(values[:config.max_history]))
        bases.append(model)
    return HealthModelStore(config, {f"vm-{i}": copy.deepcopy(bases[i % len(bases)]) for i in range(args.fleet)})


def warm_rounds(args: argparse.Namespace, store: HealthModelStore, save: Callable[[int], bool]) -> dict[str, Any]:
    """Scoring rounds, a refit round, one more round; ``save(refits)`` after each round (True: it saved)."""
    futures = fleet_futures(args, store.config)
    models = list(store.models.values())
    round_seconds, save_seconds, saves = [], [], 0

    def one_round(r: int, refits: int = 0) -> None:
        nonlocal saves
        started = time.process_time()
        for model, samples in zip(models, futures):
            model.score(samples[r])
        round_seconds.append(time.process_time() - started)
        started = time.perf_counter()
        saves += save(refits)
        save_seconds.append(time.perf_counter() - started)

    for r in range(args.fleet_rounds):
        one_round(r)
    started = time.process_time()
    for model in models:
        model.retrain()
    refit_seconds = time.process_time() - started
    one_round(args.fleet_rounds, refits=len(models))
    gc.collect()
    return {"rss_mb": status_mb("VmRSS"), "peak_mb": status_mb("VmHWM"), "round_s": float(np.mean(round_seconds)),
            "refit_round_s": refit_seconds, "save_per_round_s": float(np.mean(save_seconds)), "saves": saves}


def every_round(save: Callable[[], None]) -> Callable[[int], bool]:
    def saved(_refits: int) -> bool:
        save()
        return True
    return saved


def as_the_daemon(watch: HealthWatch, clock: list[float]) -> Callable[[int], bool]:
    """HealthWatch.save_if_due after each round, ``[health] interval_seconds`` of ``clock`` apart."""
    def saved(refits: int) -> bool:
        clock[0] += watch.settings.interval_seconds
        watch.refits_unsaved += refits
        return watch.save_if_due()
    return saved


def save_with_rows(models: dict[str, VmHealthModel], path: Path) -> None:
    """The models pickled with their rows (a MemoryRing pickles whole) and fsynced: every save before."""
    with path.open("wb") as file:
        pickle.dump(models, file, protocol=pickle.HIGHEST_PROTOCOL)
        file.flush()
        os.fsync(file.fileno())


def fleet_child(args: argparse.Namespace, config: HealthModelConfig) -> dict[str, Any]:
    """One process's part. ``build`` writes the fleet twice: as a models file with ring files, and
    pickled with its rows (as the models file was before). ``memory`` and ``file`` each load one,
    as the daemon after a restart, and measure it."""
    from sklearn.covariance import LedoitWolf  # noqa: F401  (what a process with fitted models has loaded)

    found: dict[str, Any] = {"libraries_mb": status_mb("VmRSS")}
    path, with_rows = Path(args.dir) / "health-models.pkl", Path(args.dir) / "with-rows.pkl"
    started = time.perf_counter()
    if args.child == "build":
        store = build_fleet(args, config)
        store.save(path)
        save_with_rows(store.models, with_rows)
        return found
    if args.child == "memory":
        with with_rows.open("rb") as file:
            store = HealthModelStore(config, pickle.load(file))
        found["load_s"] = time.perf_counter() - started
        found |= warm_rounds(args, store, every_round(lambda: save_with_rows(store.models, with_rows)))
        found["models_file_mb"] = with_rows.stat().st_size / 2**20
        found["save_s"] = found["save_per_round_s"]
    else:
        clock = [0.0]
        watch = HealthWatch(HealthSettings(), path, lambda: clock[0])
        store = watch.store
        found["load_s"] = time.perf_counter() - started
        found |= warm_rounds(args, store, every_round(lambda: store.save(path)) if args.child == "file-every-round"
                             else as_the_daemon(watch, clock))
        started = time.perf_counter()
        store.save(path)
        found["save_s"] = time.perf_counter() - started  # one save of the whole file
        found["models_file_mb"] = path.stat().st_size / 2**20
        found["ring_files_mb"] = sum(p.stat().st_size for p in history_dir(path).iterdir()) / 2**20
    return found


def fleet(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Part two: each kind of history measured in a new process; prints the table."""
    measured: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for child in ("build", "memory", "file-every-round", "file"):
            command = [sys.executable, __file__, "--child", child, "--dir", tmp, "--fleet", str(args.fleet),
                       "--fleet-rounds", str(args.fleet_rounds), "--counters", str(args.counters)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            measured[child] = json.loads(done.stdout.splitlines()[-1])
    memory = measured["memory"]
    rows = []
    for name, found in (("memory, saved every round", memory), ("file, saved every round", measured["file-every-round"]),
                        ("file, saved as the daemon does (now)", measured["file"])):
        per_vm_kb = (found["rss_mb"] - found["libraries_mb"]) * 1024 / args.fleet
        rows.append([name, args.fleet, f"{found['libraries_mb']:.0f}", f"{found['rss_mb']:.0f}",
                     f"{found['rss_mb'] / memory['rss_mb']:.2f}", f"{per_vm_kb:.1f}", f"{found['peak_mb']:.0f}",
                     f"{found['round_s']:.3f}", f"{found['round_s'] / memory['round_s']:.2f}",
                     f"{found['refit_round_s']:.1f}", f"{found['load_s']:.2f}", f"{found['save_s']:.2f}",
                     f"{found['saves']}/{args.fleet_rounds + 1}", f"{found['save_per_round_s']:.3f}",
                     f"{found['save_per_round_s'] / measured['file-every-round']['save_per_round_s']:.3f}",
                     f"{found['models_file_mb']:.0f}", f"{found.get('ring_files_mb', 0):.0f}"])
    print(render_table(["history", "vms", "libraries_rss_mb", "warm_rss_mb", "rss_ratio", "per_vm_kb", "peak_rss_mb",
                        "round_s", "round_ratio", "refit_round_s", "load_s", "save_s", "saves", "save_per_round_s",
                        "save_ratio", "models_file_mb", "ring_files_mb"], rows))
    return measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=200)
    parser.add_argument("--counters", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--fleet", type=int, default=10_000, help="VMs of the warm fleet (0: skip it)")
    parser.add_argument("--fleet-rounds", type=int, default=13)
    parser.add_argument("--child", choices=("memory", "build", "file-every-round", "file"), help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    config = HealthModelConfig()
    if args.child:
        print(json.dumps(fleet_child(args, config)))
        return 0
    measured = cost(args, config)
    last = (f"cost_per_vm_sample_ms={measured['per_sample'] * 1e3:.3f} memory_per_model_kb={measured['model_kb']:.1f} "
            f"round_10000_vms_s={measured['per_sample'] * 10_000:.2f} with_refits_s={measured['with_refits'] * 10_000:.2f}")
    if args.fleet > 0:
        warm = fleet(args)
        last += f" warm_rss_mb_memory={warm['memory']['rss_mb']:.0f} warm_rss_mb_file={warm['file']['rss_mb']:.0f}"
    print(last)
    return 0


if __name__ == "__main__":
    sys.exit(main())
