"""Deterministic example data for the ``churn`` pipeline (dags/configs/churn.yaml); no downloads.

Labeled customers (one row per customer, ``event_date`` = the day the churn label became known) are
written as daily parquet partitions ``<root>/churn/labeled/date=YYYY-MM-DD/part-0.parquet``; unlabeled
"current" traffic for drift checks as ``<root>/churn/current/YYYY-MM-DD.parquet``.

Churn is a noisy, non-linear function of the features (short tenure, monthly contract, many support
calls, late payments, high charges, low usage and their interactions); the region effect is mild. With
``drift`` the world changes: higher charges, more support calls, less usage, more monthly contracts and
premium plans. The label function stays the same.

Usage::

    python -m mlops_provider.demo.data --root data --current-days 14 --drift-from 2026-10-06
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

MODEL = "churn"
LABELED = f"{MODEL}/labeled"
CURRENT = f"{MODEL}/current"

PLANS = ("basic", "standard", "premium")
CONTRACTS = ("monthly", "annual", "two_year")
PAYMENT_METHODS = ("card", "bank_transfer", "paypal", "check")
REGIONS = ("north", "south", "east", "west")

NUMERIC = (
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "usage_minutes",
    "late_payments",
)
CATEGORICAL = ("plan", "contract", "payment_method", "region")
COLUMNS = ("customer_id", "event_date", *NUMERIC, *CATEGORICAL)
TARGET = "churned"

# Category mixes: (normal world, drifted world).
_PLAN_P = (np.array([0.45, 0.35, 0.20]), np.array([0.22, 0.33, 0.45]))
_CONTRACT_P = (np.array([0.50, 0.30, 0.20]), np.array([0.80, 0.13, 0.07]))
_PAYMENT_P = (np.array([0.40, 0.25, 0.20, 0.15]), np.array([0.40, 0.25, 0.20, 0.15]))
_REGION_P = (np.array([0.28, 0.24, 0.26, 0.22]), np.array([0.28, 0.24, 0.26, 0.22]))

_PLAN_CHARGE = np.array([32.0, 64.0, 108.0])  # median monthly charge per plan
_CONTRACT_TENURE = np.array([16.0, 38.0, 58.0])  # mean tenure (months) per contract
_PAYMENT_LATE = np.array([0.22, 0.15, 0.30, 0.75])  # late-payment rate per payment method
_REGION_EFFECT = np.array([0.0, 0.08, -0.04, 0.04])  # mild

_CHARGE_SHIFT = 1.35  # drift: monthly_charges +35%
_CALLS_SHIFT = 2.5  # drift: support call rate x2.5
_USAGE_SHIFT = 0.6  # drift: usage_minutes -40%
_NULL_RATE = 0.002  # monthly_charges nulls (the config expects >= 99% present)
_INTERCEPT = -3.7

# Independent random streams: labeled data and per-day current traffic.
_LABELED_STREAM = 0
_CURRENT_STREAM = 1


def _day(value: str | date) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"invalid date {value!r}, expected YYYY-MM-DD") from None


def _pick(u: np.ndarray, probs: tuple[np.ndarray, np.ndarray], drifted: np.ndarray) -> np.ndarray:
    """Category index per row by inverse CDF, so the same draws give comparable rows in both worlds."""
    cum = np.where(drifted[:, None], np.cumsum(probs[1]), np.cumsum(probs[0]))
    return np.minimum((u[:, None] >= cum).sum(axis=1), len(probs[0]) - 1)


def _features(rng: np.random.Generator, n: int, drifted: np.ndarray) -> dict[str, np.ndarray]:
    """Feature arrays for ``n`` customers (plus category codes under ``_``-names for the label).

    Every variable has its own random stream, so drifting later rows leaves earlier rows unchanged even
    though e.g. Poisson sampling consumes a varying number of draws.
    """
    r = dict(zip(("cat", "tenure", "usage", "charges", "total", "calls", "late"), rng.spawn(7), strict=True))
    u = r["cat"].random((n, 4))
    plan = _pick(u[:, 0], _PLAN_P, drifted)
    contract = _pick(u[:, 1], _CONTRACT_P, drifted)
    payment = _pick(u[:, 2], _PAYMENT_P, drifted)
    region = _pick(u[:, 3], _REGION_P, drifted)

    tenure = r["tenure"].gamma(1.6, _CONTRACT_TENURE[contract] / 1.6)
    tenure = np.clip(np.round(tenure), 0, 120).astype(np.int64)
    usage = r["usage"].lognormal(np.log(380.0) + 0.25 * plan, 0.55, n)
    usage = np.where(drifted, usage * _USAGE_SHIFT, usage)
    charges = _PLAN_CHARGE[plan] * r["charges"].lognormal(0.0, 0.16, n) + 0.02 * np.minimum(usage, 1500.0)
    charges = np.clip(charges, 15.0, 200.0)
    charges = np.round(np.where(drifted, charges * _CHARGE_SHIFT, charges), 2)
    total = tenure * charges * r["total"].normal(1.0, 0.05, n) + r["total"].uniform(0.0, 1.0, n) * charges
    total = np.round(np.maximum(total, 0.0), 2)
    call_rate = (0.9 + 0.5 * (plan == 0) + 0.4 * (contract == 0)) * np.where(drifted, _CALLS_SHIFT, 1.0)
    calls = r["calls"].poisson(call_rate).astype(np.int64)
    late = r["late"].poisson(_PAYMENT_LATE[payment] * (1.0 + 0.5 * (contract == 0))).astype(np.int64)
    return {
        "tenure_months": tenure,
        "monthly_charges": charges,
        "total_charges": total,
        "support_calls": calls,
        "usage_minutes": np.round(usage, 1),
        "late_payments": late,
        "plan": np.asarray(PLANS, dtype=object)[plan],
        "contract": np.asarray(CONTRACTS, dtype=object)[contract],
        "payment_method": np.asarray(PAYMENT_METHODS, dtype=object)[payment],
        "region": np.asarray(REGIONS, dtype=object)[region],
        "_plan": plan,
        "_contract": contract,
        "_payment": payment,
        "_region": region,
    }


def churn_logit(f: dict[str, np.ndarray]) -> np.ndarray:
    """Log-odds of churn; non-linear in tenure, calls and charges, with contract interactions."""
    tenure = f["tenure_months"].astype(float)
    charges = f["monthly_charges"]
    calls = f["support_calls"].astype(float)
    late = f["late_payments"].astype(float)
    monthly = f["_contract"] == 0
    two_year = f["_contract"] == 2
    z = (
        _INTERCEPT
        + 1.6 * np.exp(-tenure / 10.0)  # new customers leave
        + 1.0 * monthly
        - 1.1 * two_year
        + 0.45 * np.minimum(calls, 6.0)
        + 0.7 * (calls >= 4)  # frustration, with a threshold
        + 0.5 * np.minimum(late, 4.0)
        + 1.2 / (1.0 + np.exp(-(charges - 95.0) / 10.0))  # expensive plans
        + 0.8 * monthly * (charges > 80.0)  # expensive and free to leave
        + 0.5 * monthly * (tenure < 6)
        - 0.45 * (np.log(f["usage_minutes"] + 1.0) - np.log(380.0))  # low usage
        + 0.35 * (f["_payment"] == 3)  # paper checks
        + _REGION_EFFECT[f["_region"]]
    )
    return z


def _label(rng: np.random.Generator, f: dict[str, np.ndarray]) -> np.ndarray:
    z = churn_logit(f) + rng.normal(0.0, 0.5, len(f["tenure_months"]))
    return (rng.random(len(z)) < 1.0 / (1.0 + np.exp(-z))).astype(np.int64)


def _frame(ids: np.ndarray, dates: np.ndarray, f: dict[str, np.ndarray], rng: np.random.Generator) -> pd.DataFrame:
    df = pd.DataFrame({"customer_id": ids, "event_date": dates})
    for col in (*NUMERIC, *CATEGORICAL):
        df[col] = f[col]
    nulls = rng.random(len(df)) < _NULL_RATE
    df["monthly_charges"] = df["monthly_charges"].mask(nulls)
    return df


def generate_labeled(
    rows: int = 60_000,
    start: str = "2026-06-01",
    days: int = 120,
    seed: int = 7,
    drift_from: str | None = None,
) -> pd.DataFrame:
    """Labeled customers spread evenly over ``days`` days from ``start`` (ids unique, in date order).

    Rows on/after ``drift_from`` follow the drifted feature distributions; the label function is the same.
    """
    if rows < 1 or days < 1:
        raise ValueError("rows and days must be positive")
    rng = np.random.default_rng([seed, _LABELED_STREAM])
    day_idx = np.arange(rows, dtype=np.int64) * days // rows
    dates = pd.Timestamp(_day(start)) + pd.to_timedelta(day_idx, unit="D")
    drifted = np.zeros(rows, dtype=bool)
    if drift_from is not None:
        drifted = np.asarray(dates >= pd.Timestamp(_day(drift_from)))
    f = _features(rng, rows, drifted)
    churned = _label(rng, f)
    ids = np.array([f"C{i:07d}" for i in range(1, rows + 1)], dtype=object)
    df = _frame(ids, np.asarray(dates, dtype="datetime64[ns]"), f, rng)
    df[TARGET] = churned
    return df


def generate_current(day: str, rows: int = 2_000, seed: int = 7, drift: bool = False) -> pd.DataFrame:
    """Unlabeled traffic of one day; the random stream derives from (seed, day)."""
    d = _day(day)
    rng = np.random.default_rng([seed, _CURRENT_STREAM, d.toordinal()])
    f = _features(rng, rows, np.full(rows, drift, dtype=bool))
    numbers = rng.choice(9_999_999, size=rows, replace=False) + 1
    ids = np.array([f"C{i:07d}" for i in numbers], dtype=object)
    dates = np.full(rows, np.datetime64(d.isoformat(), "ns"))
    return _frame(ids, dates, f, rng)


_PARTITION = re.compile(r"^date=\d{4}-\d{2}-\d{2}$")


def _write(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    df.to_parquet(tmp, index=False, engine="pyarrow")
    tmp.replace(path)
    return path


def write_labeled(
    root: Path,
    rows: int = 60_000,
    start: str = "2026-06-01",
    days: int = 120,
    seed: int = 7,
    drift_from: str | None = None,
) -> list[Path]:
    """Write the labeled set as daily partitions under ``root/churn/labeled``; returns the files.

    Replaces the data set: ``date=...`` partitions from an earlier call that are not part of this one are
    removed, so customer ids stay unique across the folder. Rewriting gives the same content.
    """
    df = generate_labeled(rows=rows, start=start, days=days, seed=seed, drift_from=drift_from)
    base = Path(root) / LABELED
    paths: list[Path] = []
    for ts, part in df.groupby("event_date", sort=True):
        path = base / f"date={pd.Timestamp(ts).date().isoformat()}" / "part-0.parquet"
        paths.append(_write(part.reset_index(drop=True), path))
    keep = {p.parent.name for p in paths}
    if base.is_dir():
        for stale in sorted(base.iterdir()):
            if stale.is_dir() and _PARTITION.match(stale.name) and stale.name not in keep:
                (stale / "part-0.parquet").unlink(missing_ok=True)
                if not any(stale.iterdir()):
                    stale.rmdir()
    return paths


def write_current(
    root: Path,
    start: str,
    days: int,
    rows_per_day: int = 2_000,
    seed: int = 7,
    drift_from: str | None = None,
) -> list[Path]:
    """One file of current traffic per day under ``root/churn/current``, drifted from ``drift_from`` on."""
    first = _day(start)
    shift = _day(drift_from) if drift_from is not None else None
    paths = []
    for i in range(days):
        d = first + timedelta(days=i)
        drift = shift is not None and d >= shift
        df = generate_current(d.isoformat(), rows=rows_per_day, seed=seed, drift=drift)
        paths.append(_write(df, Path(root) / CURRENT / f"{d.isoformat()}.parquet"))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_provider.demo.data", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--root", required=True, help="data root (the [mlops] data_root)")
    parser.add_argument("--rows", type=int, default=60_000, help="labeled rows in total (default 60000)")
    parser.add_argument("--start", default="2026-06-01", help="first labeled day (default 2026-06-01)")
    parser.add_argument("--days", type=int, default=120, help="labeled days (default 120)")
    parser.add_argument(
        "--current-days",
        type=int,
        default=14,
        help="days of current traffic from the day after the last labeled day (default 14)",
    )
    parser.add_argument("--current-rows", type=int, default=2_000, help="current rows per day (default 2000)")
    parser.add_argument("--drift-from", default=None, help="first drifted day (YYYY-MM-DD), default none")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    try:
        if args.drift_from is not None:
            _day(args.drift_from)
        root = Path(args.root)
        labeled = write_labeled(
            root, rows=args.rows, start=args.start, days=args.days, seed=args.seed, drift_from=args.drift_from
        )
        current_start = _day(args.start) + timedelta(days=args.days)
        current = write_current(
            root,
            current_start.isoformat(),
            args.current_days,
            args.current_rows,
            seed=args.seed,
            drift_from=args.drift_from,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rate = float(pd.concat([pd.read_parquet(p, columns=[TARGET]) for p in labeled])[TARGET].mean())
    print(f"labeled: {args.rows} rows, {len(labeled)} files under {root / LABELED}, churn rate {rate:.3f}")
    drifted = "" if args.drift_from is None else f", drifted from {args.drift_from}"
    print(
        f"current: {args.current_days * args.current_rows} rows, {len(current)} files under "
        f"{root / CURRENT}, churn rate n/a (unlabeled){drifted}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
