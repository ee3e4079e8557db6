"""SoH error on simulated trays, where the true SoH of every cell is known, across temperature and SOC.

Serves each simulated tray with the real `bench sim serve` (optionally spreading the
cells' ambient temperature with `--ambient-c LO:HI` and their start SOC with `--soc
LO:HI`) and measures it with the real `bench measure --station` (quick-grade profile:
OCV, EIS, DC pulse), so every record carries the temperature the BT4560 reported. Two
trays: a training tray and a test tray (different seeds, so different cells), both
spread over the same ranges. The training records get the reference capacity a full
capacity test would measure (the simulated cell's capacity); `calibrate` fits the
quick-test model on them with folds grouped by cell. The test tray is then evaluated
with the model and without it (fallback), and both are compared with the simulator's
truth: MAE, RMSE, bias and the coverage of the 90 % interval, over all cells and
binned by the cell's ambient temperature and start SOC.

    .venv/bin/python benchmarks/bench_sim_soh_error.py [--cells 40] [--train-seed 11] [--test-seed 12]
        [--ambient-c -10:45] [--soc 0.1:0.9] [--keep DIR] [--worst 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

PROFILE = "quick-grade"
CHEMISTRY = "nmc"
SPEED = 200.0
STATION_FILE_TIMEOUT_S = 30.0
TEMPERATURE_EDGES_C = (5.0, 25.0)
SOC_EDGES = (0.4, 0.7)


@dataclasses.dataclass(frozen=True)
class TrayPlan:
    """One simulated tray: which cells (seed, count), their ID prefix, and where they are measured."""

    n_cells: int
    seed: int
    prefix: str
    ambient_c_range: tuple[float, float] | None
    soc_range: tuple[float, float] | None

    def serve_options(self) -> list[str]:
        options = []
        if self.ambient_c_range is not None:
            options.append(f"--ambient-c={self.ambient_c_range[0]:g}:{self.ambient_c_range[1]:g}")
        if self.soc_range is not None:
            options.append(f"--soc={self.soc_range[0]:g}:{self.soc_range[1]:g}")
        return options


@dataclasses.dataclass(frozen=True)
class Truth:
    """What the simulator knows of each record's cell, aligned with a batch's rows."""

    soh: np.ndarray
    ambient_c: np.ndarray
    start_soc: np.ndarray


def bench_command() -> str:
    return str(Path(sys.executable).parent / "bench")


def wait_for_station_file(server: subprocess.Popen, path: Path) -> None:
    """Block until `bench sim serve` has written its station file; stop with its error if it exits first."""
    deadline = time.monotonic() + STATION_FILE_TIMEOUT_S
    while not path.exists():
        if server.poll() is not None:
            raise SystemExit(f"bench sim serve exited {server.returncode}: {server.stderr.read().strip()}")
        if time.monotonic() > deadline:
            raise SystemExit(f"bench sim serve wrote no station file within {STATION_FILE_TIMEOUT_S:.0f} s")
        time.sleep(0.05)


def measure_tray(out: Path, plan: TrayPlan) -> None:
    """Serve the tray with `bench sim serve`, measure every slot with `bench measure --station`, stop the server."""
    tray_csv = out.with_suffix(".csv")
    tray_csv.write_text("slot,cell_id\n" + "".join(f"{s},{plan.prefix}-{s:03d}\n" for s in range(1, plan.n_cells + 1)))
    station = out.with_suffix(".station.toml")
    serve = [bench_command(), "sim", "serve", "--cells", str(plan.n_cells), "--seed", str(plan.seed),
             "--chemistry", CHEMISTRY, "--speed", str(SPEED), "--station-out", str(station), *plan.serve_options()]
    server = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_station_file(server, station)
        measure = [bench_command(), "measure", "--station", str(station), "--tray", str(tray_csv),
                   "--profile", PROFILE, "--out", str(out), "--quiet"]
        done = subprocess.run(measure, capture_output=True, text=True)
        if done.returncode not in (0, 1):  # 1: some cells did not complete; they are counted below
            raise SystemExit(f"bench measure failed ({done.returncode}): {done.stderr.strip()}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def truth(batch, plan: TrayPlan) -> Truth:
    """The simulator's true SoH, ambient and start SOC of each record's cell (rebuilding the same tray)."""
    from drivers.sim.tray import DEFAULT_SOC_RANGE, make_tray

    cells = make_tray(plan.n_cells, plan.seed, CHEMISTRY, ambient_c_range=plan.ambient_c_range,
                      soc_range=plan.soc_range or DEFAULT_SOC_RANGE).cells
    by_id = {f"{plan.prefix}-{c.slot:03d}": c for c in cells}
    rows = [by_id.get(str(cell_id)) for cell_id in batch.cell_id]

    def column(read) -> np.ndarray:
        return np.array([np.nan if c is None else read(c) for c in rows], dtype=float)

    return Truth(soh=column(lambda c: c.true_soh), ambient_c=column(lambda c: c.state.ambient_c),
                 start_soc=column(lambda c: c.state.soc))


def groups(t: Truth) -> list[tuple[str, np.ndarray]]:
    """Row masks: all, then by ambient temperature, then by start SOC."""
    t_lo, t_hi = TEMPERATURE_EDGES_C
    s_lo, s_hi = SOC_EDGES
    return [
        ("all", np.ones_like(t.soh, dtype=bool)),
        (f"T < {t_lo:g} C", t.ambient_c < t_lo),
        (f"{t_lo:g} <= T < {t_hi:g} C", (t.ambient_c >= t_lo) & (t.ambient_c < t_hi)),
        (f"T >= {t_hi:g} C", t.ambient_c >= t_hi),
        (f"SOC < {s_lo:g}", t.start_soc < s_lo),
        (f"{s_lo:g} <= SOC < {s_hi:g}", (t.start_soc >= s_lo) & (t.start_soc < s_hi)),
        (f"SOC >= {s_hi:g}", t.start_soc >= s_hi),
    ]


def score_cells(est, true_soh: np.ndarray, mask: np.ndarray) -> str:
    """`n MAE RMSE bias coverage width` (points of SoH) of the rows in `mask` that have an estimate."""
    ok = mask & np.isfinite(est.soh) & np.isfinite(true_soh)
    if not ok.any():
        return f"{0:3d} {'-':>6} {'-':>6} {'-':>7} {'-':>7} {'-':>6}"
    err = est.soh[ok] - true_soh[ok]
    covered = (true_soh[ok] >= est.soh_low[ok]) & (true_soh[ok] <= est.soh_high[ok])
    width = np.mean(est.soh_high[ok] - est.soh_low[ok])
    return (f"{ok.sum():3d} {100 * np.mean(np.abs(err)):6.2f} {100 * np.sqrt(np.mean(err**2)):6.2f} "
            f"{100 * np.mean(err):+7.2f} {100 * covered.mean():6.1f}% {100 * width:6.1f}")


def error_table(estimates: dict[str, object], t: Truth) -> str:
    """One row per group, one block of columns per estimator."""
    names = list(estimates)
    head = f"{'':<17}" + "".join(f" | {name:<39}" for name in names)
    cols = f"{'cells':<17}" + f" | {'n':>3} {'MAE':>6} {'RMSE':>6} {'bias':>7} {'cover':>7} {'width':>6}" * len(names)
    lines = [head, cols]
    for label, mask in groups(t):
        lines.append(f"{label:<17}" + "".join(f" | {score_cells(est, t.soh, mask)}" for est in estimates.values()))
    return "\n".join(lines)


def worst_cells(estimates: dict[str, object], t: Truth, cell_id: np.ndarray, count: int) -> str:
    """The `count` records with the largest error of the first estimator, with where they were measured."""
    first = next(iter(estimates.values()))
    err = np.abs(first.soh - t.soh)
    order = [k for k in np.argsort(-np.where(np.isfinite(err), err, np.inf)) if k < len(err)][:count]
    names = list(estimates)
    lines = [f"{'cell':<9} {'ambient C':>9} {'start SOC':>9} {'true SoH':>8}" + "".join(f" {name:>10}" for name in names)]
    for k in order:
        lines.append(f"{str(cell_id[k]):<9} {t.ambient_c[k]:9.1f} {t.start_soc[k]:9.2f} {100 * t.soh[k]:8.1f}"
                     + "".join(f" {100 * est.soh[k]:10.1f}" for est in estimates.values()))
    return "\n".join(lines)


def describe_records(name: str, batch, t: Truth) -> str:
    """Status counts, and how the stored temperature and SOC compare with the simulator's."""
    statuses, counts = np.unique(np.asarray(batch.status, dtype=str), return_counts=True)
    status = ", ".join(f"{c} {s}" for s, c in zip(statuses, counts))
    measured_c = np.asarray(batch.temperature_c, dtype=float)
    known_t = np.isfinite(measured_c) & np.isfinite(t.ambient_c)
    dt = np.max(np.abs(measured_c[known_t] - t.ambient_c[known_t])) if known_t.any() else np.nan
    return (f"{name}: {len(batch.cell_id)} records ({status}); ambient {np.nanmin(t.ambient_c):.1f}..{np.nanmax(t.ambient_c):.1f} C, "
            f"start SOC {np.nanmin(t.start_soc):.2f}..{np.nanmax(t.start_soc):.2f}; temperature stored for "
            f"{known_t.sum()}/{len(measured_c)} (max |stored - ambient| {dt:.2f} C)")


def describe_soc(est, t: Truth) -> str:
    """How well the estimator knew each test record's SOC (measured, or read off the OCV curve)."""
    soc = np.asarray(getattr(est, "soc", np.full(len(t.soh), np.nan)), dtype=float)
    known = np.isfinite(soc) & np.isfinite(t.start_soc)
    if not known.any():
        return "SOC known to the estimator for 0 test records"
    err = soc[known] - t.start_soc[known]
    return (f"SOC known to the estimator for {known.sum()}/{len(soc)} test records: "
            f"|SOC - start SOC| mean {np.mean(np.abs(err)):.3f}, max {np.max(np.abs(err)):.3f}")


def parse_range(text: str) -> tuple[float, float]:
    """`LO:HI` as two floats (checked again by `bench sim serve`)."""
    try:
        low, high = (float(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LO:HI, e.g. -10:45") from None
    return low, high


def join_range_values(argv: list[str], options: tuple[str, ...] = ("--ambient-c", "--soc")) -> list[str]:
    """`--ambient-c -10:45` as `--ambient-c=-10:45`: argparse would take `-10:45` for an option."""
    joined: list[str] = []
    k = 0
    while k < len(argv):
        if argv[k] in options and k + 1 < len(argv):
            joined.append(f"{argv[k]}={argv[k + 1]}")
            k += 2
        else:
            joined.append(argv[k])
            k += 1
    return joined


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=40)
    parser.add_argument("--train-seed", type=int, default=11)
    parser.add_argument("--test-seed", type=int, default=12)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="keep train.h5 and test.h5 in DIR (for bench evaluate / bench report) instead of a temp dir")
    parser.add_argument("--worst", type=int, default=5, help="list this many test cells with the largest error")
    parser.add_argument("--ambient-c", type=parse_range, default=None, metavar="LO:HI",
                        help="ambient temperature range of both trays, C (default: about 25 C)")
    parser.add_argument("--soc", type=parse_range, default=None, metavar="LO:HI",
                        help="start SOC range of both trays (default: 0.3:0.6)")
    args = parser.parse_args(join_range_values(sys.argv[1:]))

    from bench.estimate import calibrate, evaluate
    from bench.store import load_batch

    train_plan = TrayPlan(args.cells, args.train_seed, "TRAIN", args.ambient_c, args.soc)
    test_plan = TrayPlan(args.cells, args.test_seed, "TEST", args.ambient_c, args.soc)
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp) if args.keep is None else args.keep
        out_dir.mkdir(parents=True, exist_ok=True)
        train_path, test_path = out_dir / "train.h5", out_dir / "test.h5"
        for path in (train_path, test_path):
            if path.exists():
                raise SystemExit(f"{path} exists: --keep needs a directory without train.h5 and test.h5")
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=2) as pool:  # the two trays are two stations, measured side by side
            for job in [pool.submit(measure_tray, train_path, train_plan), pool.submit(measure_tray, test_path, test_plan)]:
                job.result()
        measured_s = time.perf_counter() - t0
        train = load_batch([train_path])
        test = load_batch([test_path])
    train_truth = truth(train, train_plan)
    test_truth = truth(test, test_plan)
    train = dataclasses.replace(train, reference_capacity_ah=train_truth.soh * np.asarray(train.nominal_capacity_ah, dtype=float))

    model, report = calibrate(train, n_folds=args.folds, seed=0)
    estimates = {"calibrated": evaluate(test, model), "fallback": evaluate(test)}
    ambient = "about 25 C" if args.ambient_c is None else f"ambient {args.ambient_c[0]:g}..{args.ambient_c[1]:g} C"
    soc = "SOC 0.3..0.6" if args.soc is None else f"SOC {args.soc[0]:g}..{args.soc[1]:g}"
    print(f"simulated trays: {args.cells} + {args.cells} {CHEMISTRY} cells at {ambient}, {soc}; profile {PROFILE}; "
          f"measured through bench sim serve + bench measure --station in {measured_s:.0f} s")
    print(describe_records("training tray", train, train_truth))
    print(describe_records("test tray", test, test_truth))
    print(report.summary())
    print(describe_soc(estimates["calibrated"], test_truth))
    print("test tray against the simulator's true SoH (points of SoH; coverage and width of the 90 % interval),")
    print("grouped by the cell's ambient temperature and start SOC:")
    print(error_table(estimates, test_truth))
    print("largest calibrated errors (SoH in %):")
    print(worst_cells(estimates, test_truth, np.asarray(test.cell_id), args.worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
