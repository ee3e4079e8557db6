"""Batched ECM fit (bench.estimate.fit_ecm) against impedance.py's CustomCircuit on real spectra.

Both fit the same circuit, L-R0-(R1||CPE1)-(R2||CPE2)-W, to the measured spectra of
Zhang et al. (2020) in this one process. impedance.py fits one spectrum at a time, so
it gets a subsample (every k-th spectrum); ours fits all of them in one call. Both start
from the same initial values (read off each spectrum by bench), so the comparison is of
the optimisers, not of the starting guesses. Prints spectra/s for both, the ratio, and
the median / 90th-percentile relative RMSE of both on the subsample they share.

    .venv/bin/python benchmarks/bench_fit_vs_impedance.py [--data DIR] [--subsample 50]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from bench.estimate.circuits import impedance_py_circuit, parse_circuit
from bench.estimate.fit import DEFAULT_CIRCUIT, fit_ecm, initial_values, peak_starts
from bench.estimate.spectra import as_block


def default_data_dir() -> Path:
    override = os.environ.get("BENCH_SHARED_DATA")
    root = Path(override) if override else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    return root / "eis-zhang2020"


def load_spectra(folder: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One (frequency_hz, Z) pair per cycle; the files store -Im(Z), turned back here at the edge."""
    freqs, spectra = [], []
    for path in sorted(folder.glob("EIS_state_V_*.txt")):
        data = np.loadtxt(path, skiprows=1)
        cycles = data[:, 1]
        for cycle in np.unique(cycles):
            rows = data[cycles == cycle]
            freqs.append(rows[:, 2])
            spectra.append(rows[:, 3] - 1j * rows[:, 4])
    return freqs, spectra


def rel_rmse(z: np.ndarray, z_fit: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.abs(z - z_fit) ** 2)) / np.mean(np.abs(z)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--subsample", type=int, default=50, help="spectra for impedance.py")
    parser.add_argument("--circuit", default=DEFAULT_CIRCUIT, help="e.g. L-R0-RQ-RQ-Q (series CPE tail)")
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"real EIS data not found at {args.data}: pass --data or set BENCH_SHARED_DATA", file=sys.stderr)
        return 2
    try:
        from impedance.models.circuits import CustomCircuit
    except ImportError as exc:
        print(f"impedance.py is not importable ({exc}): pip install -e '.[bench]'", file=sys.stderr)
        return 2

    freqs, spectra = load_spectra(args.data)
    n = len(spectra)
    circuit = parse_circuit(args.circuit)

    fit_ecm(freqs[:8], spectra[:8], args.circuit)  # warm-up (imports, first allocations)
    t0 = time.perf_counter()
    ours = fit_ecm(freqs, spectra, args.circuit)
    ours_s = time.perf_counter() - t0

    pick = np.linspace(0, n - 1, min(args.subsample, n)).astype(int)
    # impedance.py gets the same first start fit_ecm uses: arcs on the spectrum's -Im maxima.
    block = as_block([freqs[i] for i in pick], [spectra[i] for i in pick])
    starts = peak_starts(circuit, block, initial_values(circuit, block, (0.15,))[0])[0]
    theirs = []
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, i in enumerate(pick):
            model = CustomCircuit(impedance_py_circuit(circuit), initial_guess=[float(v) for v in starts[k]])
            model.fit(freqs[i], spectra[i])
            theirs.append(rel_rmse(spectra[i], model.predict(freqs[i])))
    theirs_s = time.perf_counter() - t0

    ours_rate, theirs_rate = n / ours_s, len(pick) / theirs_s
    ours_sub = ours.rel_rmse[pick]
    print(f"spectra: {n} real (Zhang et al. 2020), circuit {args.circuit} ({impedance_py_circuit(circuit)})")
    print(f"bench fit_ecm   : {n:5d} spectra in {ours_s:7.2f} s = {ours_rate:9.1f} spectra/s")
    print(f"impedance.py    : {len(pick):5d} spectra in {theirs_s:7.2f} s = {theirs_rate:9.1f} spectra/s")
    print(f"throughput ratio: {ours_rate / theirs_rate:.0f}x")
    print("rel. RMSE on the shared subsample   median    90th pct")
    print(f"  bench fit_ecm                    {100 * np.median(ours_sub):6.2f} %  {100 * np.percentile(ours_sub, 90):6.2f} %")
    print(f"  impedance.py                     {100 * np.median(theirs):6.2f} %  {100 * np.percentile(theirs, 90):6.2f} %")
    print(f"  bench fit_ecm, all {n} spectra  {100 * np.median(ours.rel_rmse):6.2f} %  "
          f"{100 * np.percentile(ours.rel_rmse, 90):6.2f} %  (converged {100 * ours.converged.mean():.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
