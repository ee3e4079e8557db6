"""SoH error on simulated trays, where the true SoH of every cell is known.

Runs the real `bench measure --sim` (quick-grade profile: OCV, EIS, DC pulse) on two
simulated trays: a training tray and a test tray (different seeds, so different cells).
The training records get the reference capacity a full capacity test would measure
(the simulated cell's capacity); `calibrate` fits the quick-test model on them with
folds grouped by cell. The test tray is then evaluated with the model and without it
(fallback), and both are compared with the simulator's truth: MAE, RMSE, bias and the
coverage of the 90 % interval.

    .venv/bin/python benchmarks/bench_sim_soh_error.py [--cells 40] [--train-seed 11] [--test-seed 12]
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROFILE = "quick-grade"
CHEMISTRY = "nmc"


def measure_tray(out: Path, n_cells: int, seed: int, prefix: str) -> None:
    tray = out.with_suffix(".csv")
    tray.write_text("slot,cell_id\n" + "".join(f"{s},{prefix}-{s:03d}\n" for s in range(1, n_cells + 1)))
    bench = str(Path(sys.executable).parent / "bench")
    cmd = [bench, "measure", "--sim", "--tray", str(tray), "--profile", PROFILE, "--out", str(out), "--seed", str(seed), "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"bench measure failed ({done.returncode}): {done.stderr.strip()}")


def truth(batch, n_cells: int, seed: int, prefix: str) -> np.ndarray:
    from drivers.sim.tray import make_tray

    by_id = {f"{prefix}-{c.slot:03d}": c.true_soh for c in make_tray(n_cells, seed, CHEMISTRY).cells}
    return np.array([by_id.get(str(cell), np.nan) for cell in batch.cell_id])


def scores(name: str, est, true_soh: np.ndarray) -> str:
    ok = np.isfinite(est.soh) & np.isfinite(true_soh)
    err = est.soh[ok] - true_soh[ok]
    covered = (true_soh[ok] >= est.soh_low[ok]) & (true_soh[ok] <= est.soh_high[ok])
    width = np.mean(est.soh_high[ok] - est.soh_low[ok])
    return (f"{name:<11} n={ok.sum():3d}  MAE {100 * np.mean(np.abs(err)):5.2f}  RMSE {100 * np.sqrt(np.mean(err**2)):5.2f}  "
            f"bias {100 * np.mean(err):+5.2f} points  interval coverage {100 * covered.mean():5.1f} %  width {100 * width:4.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=40)
    parser.add_argument("--train-seed", type=int, default=11)
    parser.add_argument("--test-seed", type=int, default=12)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    from bench.estimate import calibrate, evaluate
    from bench.store import load_batch

    with tempfile.TemporaryDirectory() as tmp:
        train_path, test_path = Path(tmp) / "train.h5", Path(tmp) / "test.h5"
        t0 = time.perf_counter()
        measure_tray(train_path, args.cells, args.train_seed, "TRAIN")
        measure_tray(test_path, args.cells, args.test_seed, "TEST")
        measured_s = time.perf_counter() - t0
        train = load_batch([train_path])
        train_true = truth(train, args.cells, args.train_seed, "TRAIN")
        train = dataclasses.replace(train, reference_capacity_ah=train_true * np.asarray(train.nominal_capacity_ah, dtype=float))
        test = load_batch([test_path])
        test_true = truth(test, args.cells, args.test_seed, "TEST")

    model, report = calibrate(train, n_folds=args.folds, seed=0)
    print(f"simulated trays: {args.cells} + {args.cells} {CHEMISTRY} cells, profile {PROFILE}, measured in {measured_s:.0f} s")
    print(report.summary())
    print("test tray against the simulator's true SoH:")
    print(scores("calibrated", evaluate(test, model), test_true))
    print(scores("fallback", evaluate(test), test_true))
    return 0


if __name__ == "__main__":
    sys.exit(main())
