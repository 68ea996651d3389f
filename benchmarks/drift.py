"""Drift check cost: Evidently's DataDriftPreset vs the fast engine, on the same full data.

    python benchmarks/drift.py [--rows 1000000] [--cols 20] [--seed 0] [--skip-evidently-above N]

Reference and current hold ``--rows`` rows each of ``--cols`` float64 columns. Half the columns drift (a mean
shift of 0.15-0.3 std or a scale change of x1.3-x1.5), the other half are drawn from the reference
distribution. Each engine runs in its own fresh interpreter that first builds the data (same seed) and imports
its engine; the clock and the memory baseline start after that. Memory is the child's peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``), shown both as a total and as the growth over the loaded-data baseline.
Evidently is timed end to end as the provider calls it (datasets, report run, snapshot parse); it takes about
two minutes at 1M rows. Prints both timings and memory and, last,
``drift_speedup=<evidently_s/fast_s> verdicts_agree=<n>/<m>`` (``drift_speedup=skipped`` when Evidently was
skipped by ``--skip-evidently-above``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_data(rows: int, cols: int, seed: int):
    """Reference and current frames plus the names of the columns built to drift."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    names = [f"f{j:02d}" for j in range(cols)]
    ref = np.empty((rows, cols), dtype=np.float64, order="F")
    cur = np.empty((rows, cols), dtype=np.float64, order="F")
    drifting = []
    for j in range(cols):
        loc, scale = rng.uniform(-5, 5), rng.uniform(0.5, 3)
        shift, stretch = 0.0, 1.0
        if j % 2 == 0:
            drifting.append(names[j])
            if j % 4 == 0:
                shift = 0.15 + 0.15 * rng.random()
            else:
                stretch = 1.3 + 0.2 * rng.random()
        rng.standard_normal(out=ref[:, j])
        ref[:, j] *= scale
        ref[:, j] += loc
        rng.standard_normal(out=cur[:, j])
        cur[:, j] *= scale * stretch
        cur[:, j] += loc + shift * scale
    return pd.DataFrame(ref, columns=names, copy=False), pd.DataFrame(cur, columns=names, copy=False), drifting


def _maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(engine: str, rows: int, cols: int, seed: int) -> None:
    sys.path.insert(0, str(REPO / "src"))
    import gc

    from mlops_provider.monitoring import engine as fast_engine
    from mlops_provider.monitoring import evidently as adapter

    if engine == "evidently":
        import evidently.presets  # noqa: F401  (import cost stays out of the measurement)
    ref, cur, _ = make_data(rows, cols, seed)
    numeric = list(ref.columns)
    gc.collect()
    baseline = _maxrss_mb()
    start = time.perf_counter()
    if engine == "evidently":
        result, _snapshot = adapter.evidently_drift(ref, cur, numeric, [])
    else:
        result = fast_engine.compute_drift(ref, cur, numeric, [])
    seconds = time.perf_counter() - start
    out = {
        "seconds": seconds,
        "baseline_mb": baseline,
        "peak_mb": _maxrss_mb(),
        "verdicts": result.verdicts(),
        "methods": sorted({c.method for c in result.columns}),
        "scores": {c.column: c.score for c in result.columns},
    }
    print(json.dumps(out))


def _run(engine: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--worker", engine, "--rows", str(args.rows), "--cols", str(args.cols)]
    cmd += ["--seed", str(args.seed)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{engine} run failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _show(name: str, r: dict) -> None:
    grown = r["peak_mb"] - r["baseline_mb"]
    print(
        f"{name:<10} {r['seconds']:8.2f} s   peak RSS {r['peak_mb']:8.0f} MB"
        f"   (+{grown:.0f} MB over {r['baseline_mb']:.0f} MB of loaded data)   methods={','.join(r['methods'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-evidently-above", type=int, default=None, metavar="N")
    parser.add_argument("--worker", choices=["evidently", "fast"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.rows, args.cols, args.seed)
        return

    _, _, drifting = make_data(2, args.cols, args.seed)
    print(f"rows={args.rows} (each side) cols={args.cols} seed={args.seed} drifting by construction={len(drifting)}")
    fast = _run("fast", args)
    _show("fast", fast)
    found = sorted(c for c, d in fast["verdicts"].items() if d)
    print(f"fast engine flags exactly the drifting columns: {found == sorted(drifting)} ({len(found)} flagged)")
    if args.skip_evidently_above is not None and args.rows > args.skip_evidently_above:
        print(f"evidently  skipped (rows > {args.skip_evidently_above})")
        print(f"drift_speedup=skipped verdicts_agree=0/{len(fast['verdicts'])}")
        return
    evid = _run("evidently", args)
    _show("evidently", evid)
    agree = sum(evid["verdicts"].get(c) == v for c, v in fast["verdicts"].items())
    worst = max(
        abs(fast["scores"][c] - evid["scores"][c]) / max(abs(evid["scores"][c]), 1e-300) for c in fast["scores"]
    )
    print(f"largest relative score difference: {worst:.2e}")
    print(f"drift_speedup={evid['seconds'] / fast['seconds']:.1f} verdicts_agree={agree}/{len(fast['verdicts'])}")


if __name__ == "__main__":
    main()
