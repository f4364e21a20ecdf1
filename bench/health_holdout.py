#!/usr/bin/env python3
"""Leave-files-out check of the health model: tune on half the files, score on the other half.

    python bench/health_holdout.py DIR [--splits 10]

DIR is a NAB-format directory (as for ``vsphere-dr eval-health``). Every setting of a small grid of
the model's evidence knobs (allowance x threshold x refractory) is scored once per file; then, for
``--splits`` random halvings of the files, in both directions, the setting with the best NAB
standard score on one half is scored on the other half. The held-out score is what to expect on
files the model was not tuned on. Prints a row per half and, last, ``in_sample=<defaults on all
files> tuned_on=<mean> held_out=<mean> held_out_sd=<sd> defaults_held_out=<mean>``.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vsphere_dr.health_eval import MODEL, DetectorResult, evaluate_file, load_labels  # noqa: E402
from vsphere_dr.health_model import HealthModelConfig  # noqa: E402
from vsphere_dr.table import render_table  # noqa: E402

Setting = tuple[float, float, int]
GRID: list[Setting] = list(itertools.product([2.0, 2.5, 3.0, 3.5], [4.0, 6.0, 8.0, 12.0], [48, 96, 144]))


def config(setting: Setting) -> HealthModelConfig:
    allowance, threshold, refractory = setting
    return replace(HealthModelConfig(), allowance=allowance, threshold=threshold, refractory=refractory)


def nab(results: dict[str, DetectorResult], files: Sequence[str]) -> float:
    """NAB standard score of one setting over some files (normalised over those files together)."""
    total = sum((results[f] for f in files[1:]), results[files[0]])
    return total.nab[0].normalized or 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--splits", type=int, default=10)
    args = parser.parse_args(argv)
    labels = load_labels(args.directory)
    names = sorted(labels)
    defaults = HealthModelConfig()
    default_setting = (defaults.allowance, defaults.threshold, defaults.refractory)
    settings = GRID if default_setting in GRID else [*GRID, default_setting]
    scores = {s: {n: evaluate_file(n, args.directory / n, labels[n], config(s)).detectors[MODEL] for n in names}
              for s in settings}
    rng = np.random.default_rng(0)
    rows, tuned, held, held_defaults = [], [], [], []
    for split in range(args.splits):
        order = rng.permutation(len(names))
        halves = [names[i] for i in order[:len(names) // 2]], [names[i] for i in order[len(names) // 2:]]
        for tune, test in (halves, halves[::-1]):
            best = max(settings, key=lambda s: nab(scores[s], tune))
            tuned.append(nab(scores[best], tune))
            held.append(nab(scores[best], test))
            held_defaults.append(nab(scores[default_setting], test))
            rows.append([split, len(tune), "/".join(f"{v:g}" for v in best), f"{tuned[-1]:.1f}", f"{held[-1]:.1f}",
                         f"{held_defaults[-1]:.1f}"])
    print(render_table(["split", "files", "chosen allowance/threshold/refractory", "tuned_on", "held_out",
                        "defaults_held_out"], rows))
    print(f"in_sample={nab(scores[default_setting], names):.1f} tuned_on={statistics.mean(tuned):.1f} "
          f"held_out={statistics.mean(held):.1f} held_out_sd={statistics.pstdev(held):.1f} "
          f"defaults_held_out={statistics.mean(held_defaults):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
