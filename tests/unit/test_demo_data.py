"""Example churn data: deterministic, schema of dags/configs/churn.yaml, realistic label, clear drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlops_provider.demo import data

FEATURES = [*data.NUMERIC, *data.CATEGORICAL]


@pytest.fixture(scope="module")
def labeled() -> pd.DataFrame:
    return data.generate_labeled(rows=6_000, days=30)


def test_labeled_is_deterministic_per_seed(labeled):
    pd.testing.assert_frame_equal(labeled, data.generate_labeled(rows=6_000, days=30))
    other = data.generate_labeled(rows=6_000, days=30, seed=8)
    assert not labeled[FEATURES].equals(other[FEATURES])


def test_current_is_deterministic_per_seed_and_day():
    day = data.generate_current("2026-10-01", rows=500)
    pd.testing.assert_frame_equal(day, data.generate_current("2026-10-01", rows=500))
    assert not day[FEATURES].equals(data.generate_current("2026-10-02", rows=500)[FEATURES])
    assert not day[FEATURES].equals(data.generate_current("2026-10-01", rows=500, seed=8)[FEATURES])


def test_labeled_schema_and_dtypes(labeled):
    assert list(labeled.columns) == [*data.COLUMNS, "churned"]
    assert labeled["event_date"].dtype == "datetime64[ns]"
    assert (labeled["event_date"] == labeled["event_date"].dt.normalize()).all()
    for col in ("tenure_months", "support_calls", "late_payments", "churned"):
        assert labeled[col].dtype == np.int64, col
    for col in ("monthly_charges", "total_charges", "usage_minutes"):
        assert labeled[col].dtype == np.float64, col
    for col in ("customer_id", *data.CATEGORICAL):
        assert labeled[col].map(type).eq(str).all(), col


def test_current_schema_has_no_label():
    current = data.generate_current("2026-10-01", rows=300)
    assert list(current.columns) == list(data.COLUMNS)
    assert len(current) == 300
    assert current["customer_id"].is_unique
    assert (current["event_date"] == pd.Timestamp("2026-10-01")).all()


def test_value_ranges(labeled):
    assert labeled["tenure_months"].between(0, 120).all()
    charges = labeled["monthly_charges"].dropna()
    assert charges.between(15, 200).all()
    assert 0 < labeled["monthly_charges"].isna().mean() < 0.01
    assert labeled.drop(columns="monthly_charges").notna().all().all()
    assert (labeled["total_charges"] >= 0).all()
    assert (labeled[["support_calls", "late_payments"]] >= 0).all().all()
    assert (labeled["usage_minutes"] > 0).all()
    assert set(labeled["plan"]) == set(data.PLANS)
    assert set(labeled["contract"]) == set(data.CONTRACTS)
    assert set(labeled["payment_method"]) == set(data.PAYMENT_METHODS)
    assert set(labeled["region"]) == set(data.REGIONS)
    assert set(labeled["churned"]) == {0, 1}
    by_plan = labeled.groupby("plan")["monthly_charges"].median()
    assert by_plan["basic"] < by_plan["standard"] < by_plan["premium"]
    ratio = labeled["total_charges"] / (labeled["tenure_months"] * labeled["monthly_charges"])
    assert ratio[labeled["tenure_months"] >= 12].median() == pytest.approx(1.0, abs=0.05)


def test_churn_rate_and_signal(labeled):
    assert 0.15 <= labeled["churned"].mean() <= 0.35
    by_contract = labeled.groupby("contract")["churned"].mean()
    assert by_contract["monthly"] > by_contract["annual"] > by_contract["two_year"]
    assert labeled.loc[labeled["tenure_months"] < 6, "churned"].mean() > labeled["churned"].mean()


def test_ids_unique_and_days_spread(labeled):
    assert labeled["customer_id"].is_unique
    assert labeled["customer_id"].str.fullmatch(r"C\d{7}").all()
    assert labeled["customer_id"].iloc[0] == "C0000001"
    counts = labeled["event_date"].value_counts()
    assert len(counts) == 30
    assert counts.min() == counts.max() == 200
    assert labeled["event_date"].min() == pd.Timestamp("2026-06-01")


def test_drift_changes_numeric_and_categorical_mix():
    normal = data.generate_current("2026-10-01", rows=4_000)
    drifted = data.generate_current("2026-10-01", rows=4_000, drift=True)
    assert drifted["monthly_charges"].mean() > 1.2 * normal["monthly_charges"].mean()
    assert drifted["support_calls"].mean() > 2 * normal["support_calls"].mean()
    assert drifted["usage_minutes"].mean() < normal["usage_minutes"].mean()
    monthly = (normal["contract"] == "monthly").mean(), (drifted["contract"] == "monthly").mean()
    assert monthly[0] == pytest.approx(0.5, abs=0.05)
    assert monthly[1] == pytest.approx(0.8, abs=0.05)
    assert (drifted["plan"] == "premium").mean() > (normal["plan"] == "premium").mean() + 0.15


def test_labeled_drift_from_only_affects_later_days(labeled):
    drifted = data.generate_labeled(rows=6_000, days=30, drift_from="2026-06-16")
    before = drifted["event_date"] < pd.Timestamp("2026-06-16")
    pd.testing.assert_frame_equal(drifted[before], labeled[before])
    later, base = drifted.loc[~before, "monthly_charges"], labeled.loc[~before, "monthly_charges"]
    assert later.mean() > 1.2 * base.mean()


def test_write_labeled_partitions_and_is_idempotent(tmp_path):
    paths = data.write_labeled(tmp_path, rows=900, days=9)
    assert len(paths) == 9
    assert paths[0] == tmp_path / "churn" / "labeled" / "date=2026-06-01" / "part-0.parquet"
    assert paths[-1].parent.name == "date=2026-06-09"
    first = [p.read_bytes() for p in paths]
    assert data.write_labeled(tmp_path, rows=900, days=9) == paths
    assert [p.read_bytes() for p in paths] == first
    back = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    pd.testing.assert_frame_equal(back, data.generate_labeled(rows=900, days=9))
    part = pd.read_parquet(paths[3])
    assert (part["event_date"] == pd.Timestamp("2026-06-04")).all()

    shorter = data.write_labeled(tmp_path, rows=300, days=3)
    on_disk = sorted((tmp_path / "churn" / "labeled").glob("date=*/*.parquet"))
    assert on_disk == shorter


def test_write_current_files_and_drift(tmp_path):
    paths = data.write_current(tmp_path, "2026-10-01", 4, rows_per_day=400, drift_from="2026-10-03")
    assert [p.name for p in paths] == [f"2026-10-0{d}.parquet" for d in range(1, 5)]
    assert all(p.parent == tmp_path / "churn" / "current" for p in paths)
    frames = [pd.read_parquet(p) for p in paths]
    pd.testing.assert_frame_equal(frames[0], data.generate_current("2026-10-01", rows=400))
    pd.testing.assert_frame_equal(frames[3], data.generate_current("2026-10-04", rows=400, drift=True))
    assert all("churned" not in f.columns for f in frames)


def test_cli_writes_both_kinds(tmp_path, capsys):
    assert (
        data.main(
            [
                "--root",
                str(tmp_path),
                "--rows",
                "600",
                "--days",
                "6",
                "--current-days",
                "2",
                "--current-rows",
                "100",
                "--drift-from",
                "2026-06-08",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("labeled: 600 rows, 6 files")
    assert "churn rate 0." in out[0]
    assert out[1].startswith("current: 200 rows, 2 files")
    assert sorted(p.name for p in (tmp_path / "churn" / "current").iterdir()) == [
        "2026-06-07.parquet",
        "2026-06-08.parquet",
    ]
    assert data.main(["--root", str(tmp_path), "--drift-from", "not-a-date"]) == 2
