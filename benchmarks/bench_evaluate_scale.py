"""Evaluate N synthetic records (spectra + DC pulses) in one process: records/s and peak memory.

Each size runs in its own child process so that the peak RSS (resource.getrusage) belongs
to that size alone; memory that grows in proportion to N (and throughput that stays
flat) shows that the estimator streams through the batch without per-record overhead.

    .venv/bin/python benchmarks/bench_evaluate_scale.py [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def run_one(n_records: int) -> dict:
    from bench.estimate import evaluate
    from bench.estimate.synthetic import synthetic_batch

    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    batch, truth = synthetic_batch(n_records, seed=0)
    t0 = time.perf_counter()
    est = evaluate(batch)
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "n_records": n_records,
        "seconds": seconds,
        "records_per_s": n_records / seconds,
        "peak_rss_mib": peak_kib / 1024,
        "start_rss_mib": base_kib / 1024,
        "graded": int((est.grade != "retest").sum()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child)))
        return 0
    print(f"{'records':>9} {'seconds':>9} {'records/s':>10} {'peak RSS MiB':>13} {'graded':>8}")
    results = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"{r['n_records']:>9} {r['seconds']:>9.2f} {r['records_per_s']:>10.0f} {r['peak_rss_mib']:>13.0f} {r['graded']:>8}")
    if len(results) >= 2:
        a, b = results[0], results[-1]
        print(f"size x{b['n_records'] / a['n_records']:.0f}: time x{b['seconds'] / a['seconds']:.1f}, "
              f"peak RSS x{b['peak_rss_mib'] / a['peak_rss_mib']:.1f} "
              f"(RSS above interpreter start x{(b['peak_rss_mib'] - b['start_rss_mib']) / max(a['peak_rss_mib'] - a['start_rss_mib'], 1e-9):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
