"""Reading the training window from partition files: clear errors for bad data, and the built-in checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from airflow.sdk.exceptions import AirflowFailException

from mlops_provider.config import PipelineConfig
from mlops_provider.datasets import (
    DataError,
    PermanentDataError,
    builtin_checks,
    canonical,
    content_sha256,
    read_window,
    select_window,
)
from mlops_provider.hooks.storage import Storage
from mlops_provider.operators.data import failure_message

DAYS = ["2026-07-01", "2026-07-02", "2026-07-03", "2026-07-04"]


def config(**data: Any) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "model": "m",
            "task": "classification",
            "data": {
                "source": "m/labeled",
                "target": "label",
                "time_column": "event_date",
                "entity_key": "id",
                "window_days": 30,
                "features": {"numeric": ["x"], "categorical": ["grp"]},
                **data,
            },
            "training": {"estimator": {"class": "sklearn.linear_model.LogisticRegression"}},
        }
    )


def day_frame(i: int, day: str, rows: int = 6) -> pd.DataFrame:
    """One day of labeled rows; ids sort newest day first, so canonical order is not file order."""
    return pd.DataFrame(
        {
            "id": [f"{9 - i}-{j}" for j in range(rows)],
            "event_date": pd.to_datetime([day] * rows),
            "x": np.arange(rows, dtype=float) + i,
            "grp": ["a", "b", "c"] * (rows // 3),
            "label": [0, 1] * (rows // 2),
        }
    )


def write(folder: Path, frames: dict[str, pd.DataFrame], fmt: str = "parquet") -> Path:
    """Hive-style daily partitions ``date=<day>/part-0.<fmt>`` under ``folder``."""
    for day, df in frames.items():
        path = folder / f"date={day}" / f"part-0.{fmt}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            df.to_parquet(path, index=False)
        else:
            df.to_csv(path, index=False)
    return folder


def days(**changes: Any) -> dict[str, pd.DataFrame]:
    """Four good days; ``changes`` maps a day index (``d3``) to a function changing that day's frame."""
    frames = {day: day_frame(i, day) for i, day in enumerate(DAYS)}
    for key, change in changes.items():
        day = DAYS[int(key[1:])]
        frames[day] = change(frames[day])
    return frames


def window(tmp_path: Path, frames: dict[str, pd.DataFrame], fmt: str = "parquet", **data: Any):
    cfg = config(format=fmt, **data)
    return read_window(cfg, str(write(tmp_path / "labeled", frames, fmt)), Storage()), cfg


# --- Bad data: one sentence naming the file, the column and the fix; never retried ------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_text_in_a_numeric_column_names_the_partition_file_and_column(tmp_path, fmt):
    def text_x(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(x=["1.5", "abc", "2", "3", "4", "5"])

    with pytest.raises(PermanentDataError) as info:
        window(tmp_path, days(d2=text_x), fmt)
    text = str(info.value)
    bad = tmp_path / "labeled" / "date=2026-07-03" / f"part-0.{fmt}"
    assert text.startswith(f"partition {bad}: column x holds text ('abc') where earlier partitions hold numbers")
    assert "fix the file" in text and "trigger a new run" in text
    assert "ArrowInvalid" not in text and "Conversion failed" not in text
    assert isinstance(info.value, AirflowFailException)  # not retried: the same file fails the same way


def test_text_in_the_first_partition_is_named_against_the_later_ones(tmp_path):
    with pytest.raises(
        PermanentDataError,
        match=r"date=2026-07-01/part-0.parquet: column x holds text \('n/a'\) "
        r"where the other partitions hold numbers",
    ):
        window(tmp_path, days(d0=lambda df: df.assign(x=["n/a"] * 6)))


def test_every_partition_with_text_is_counted(tmp_path):
    def text_x(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(x="abc")

    with pytest.raises(PermanentDataError) as info:
        window(tmp_path, days(d2=text_x, d3=text_x))
    assert "date=2026-07-03/part-0.parquet: column x holds text ('abc')" in str(info.value)
    assert "(1 more partition(s) do too: " in str(info.value) and "date=2026-07-04/part-0.parquet)" in str(info.value)


def test_text_in_an_old_partition_outside_the_window_does_not_stop_training(tmp_path):
    frames = days()
    frames["2026-05-01"] = day_frame(9, "2026-05-01").assign(x=["n/a"] * 6)  # long before the 30-day window
    win, _ = window(tmp_path, frames)
    assert len(win.frame) == 24 and "n/a" not in set(win.frame["x"].astype(str))


def test_a_file_that_is_not_parquet_is_named(tmp_path):
    folder = write(tmp_path / "labeled", days())
    (folder / "date=2026-07-02" / "part-0.parquet").write_text("id,x\n1,2\n")
    with pytest.raises(PermanentDataError, match=r"file .*date=2026-07-02/part-0.parquet cannot be read as parquet"):
        read_window(config(), str(folder), Storage())


@pytest.mark.parametrize("content", [b"", b"PAR1\x15\x04\x15"], ids=["empty", "footer-missing"])
def test_a_file_still_being_written_is_retried_not_failed_for_good(tmp_path, content):
    folder = write(tmp_path / "labeled", days())
    (folder / "date=2026-07-02" / "part-0.parquet").write_bytes(content)
    with pytest.raises(DataError, match=r"date=2026-07-02/part-0.parquet is (empty|incomplete).*retried") as info:
        read_window(config(), str(folder), Storage())
    assert not isinstance(info.value, AirflowFailException)


@pytest.mark.parametrize(
    "empty",
    [
        lambda df: df.assign(event_date=pd.NaT),
        lambda df: df.assign(event_date=pd.Series([None] * len(df), dtype=object)),
    ],
    ids=["all-NaT", "all-null"],
)
def test_a_time_column_without_any_value_is_a_sentence(tmp_path, empty):
    frames = {day: empty(df) for day, df in days().items()}
    with pytest.raises(PermanentDataError) as info:
        window(tmp_path, frames)
    text = str(info.value)
    assert "column event_date (data.time_column) of training data" in text
    assert "holds no date/time: it is empty in all 24 rows" in text
    assert "remove data.window_days and data.time_column" in text
    assert "NaTType" not in text


def test_an_empty_time_column_in_csv_and_select_window_directly(tmp_path):
    frames = {day: df.assign(event_date="") for day, df in days().items()}
    with pytest.raises(
        PermanentDataError, match=r"column event_date \(data.time_column\) of training data .* holds no"
    ):
        window(tmp_path, frames, "csv")
    with pytest.raises(PermanentDataError, match="holds no date/time"):
        select_window(pd.DataFrame({"event_date": [pd.NaT, pd.NaT], "x": [1, 2]}), config())


def test_a_value_that_is_not_a_time_names_its_partition(tmp_path):
    def garbage(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(event_date=["2026-07-04"] * 5 + ["yesterday"])

    with pytest.raises(PermanentDataError) as info:
        window(tmp_path, days(d3=garbage), "csv")
    text = str(info.value)
    assert "column event_date (data.time_column) holds 'yesterday' in partition " in text
    assert "date=2026-07-04/part-0.csv" in text and "YYYY-MM-DD" in text


def test_missing_data_is_retried_and_missing_columns_are_not(tmp_path):
    with pytest.raises(DataError) as missing:
        read_window(config(), str(tmp_path / "nothing-here"), Storage())
    assert not isinstance(missing.value, AirflowFailException)  # the data may still arrive
    with pytest.raises(PermanentDataError, match="lacks column\\(s\\) grp"):
        window(tmp_path, {day: df.drop(columns="grp") for day, df in days().items()})


# --- The window itself ------------------------------------------------------------------------------------------


def test_window_hash_and_rows_are_unchanged_and_rows_know_their_partition(tmp_path):
    frames = days()
    w, cfg = window(tmp_path, frames)
    everything = pd.concat(list(frames.values()), ignore_index=True)
    windowed, start, end = select_window(everything, cfg)
    assert w.sha256 == content_sha256(canonical(windowed, cfg))
    assert (start, end) == ("2026-06-05", "2026-07-04")  # 30 days back from the newest event
    assert [p.name for p in w.partitions] == [f"date={d}" for d in DAYS]  # oldest first
    assert w.partitions[-1].files == ("date=2026-07-04/part-0.parquet",)
    assert w.frame["id"].iloc[0].startswith("6-")  # canonical order: newest day first
    days_of_rows = w.frame["event_date"].dt.strftime("date=%Y-%m-%d")
    assert list(days_of_rows) == [w.partitions[i].name for i in w.row_partition]


def test_content_hash_is_the_same_for_the_same_rows_in_any_order_once_canonical():
    cfg = config()
    df = pd.concat([day_frame(i, day) for i, day in enumerate(DAYS)], ignore_index=True)
    shuffled = df.sample(frac=1.0, random_state=3)[["label", "x", "grp", "id", "event_date"]]

    assert content_sha256(shuffled) != content_sha256(df)  # raw order counts ...
    assert content_sha256(canonical(shuffled, cfg)) == content_sha256(canonical(df, cfg))  # ... not once canonical
    assert list(canonical(shuffled, cfg).columns) == ["id", "event_date", "grp", "label", "x"]
    assert len(content_sha256(df)) == 64 and content_sha256(df.copy()) == content_sha256(df)


def test_content_hash_changes_with_one_value_a_dtype_or_a_column_name():
    df = canonical(day_frame(0, DAYS[0]), config())
    base = content_sha256(df)
    one_value = df.copy()
    one_value.loc[3, "x"] += 0.5
    missing_value = df.copy()
    missing_value.loc[3, "grp"] = None
    as_float32 = df.astype({"x": "float32"})
    label_as_float = df.astype({"label": "float64"})  # the same numbers, another dtype
    renamed = df.rename(columns={"x": "x2"})

    hashes = [content_sha256(d) for d in (one_value, missing_value, as_float32, label_as_float, renamed)]

    assert base not in hashes
    assert len(set(hashes)) == len(hashes)


def test_select_window_keeps_the_last_window_days_up_to_the_newest_row():
    # two rows a day from 2026-05-20 to 2026-06-10, at 00:00 and 23:30: the newest row is 2026-06-10 23:30
    stamps = [ts for day in pd.date_range("2026-05-20", "2026-06-10") for ts in (day, day + pd.Timedelta(hours=23.5))]
    df = pd.DataFrame({"event_date": stamps, "x": range(len(stamps))}).sample(frac=1.0, random_state=1)

    kept, start, end = select_window(df, config(window_days=7))

    assert (start, end) == ("2026-06-04", "2026-06-10")
    assert kept["event_date"].min() == pd.Timestamp("2026-06-04 00:00")  # the first day of the window, whole
    assert kept["event_date"].max() == pd.Timestamp("2026-06-10 23:30")
    assert len(kept) == 7 * 2
    assert sorted(kept["x"]) == sorted(df.loc[df["event_date"] >= "2026-06-04", "x"])  # rows kept, not changed

    one_day, start, end = select_window(df, config(window_days=1))
    assert (start, end, len(one_day)) == ("2026-06-10", "2026-06-10", 2)

    everything, start, end = select_window(df, config(window_days=None))
    assert everything is df and (start, end) == ("2026-05-20", "2026-06-10")


def test_select_window_counts_back_from_the_newest_row_not_from_today():
    df = pd.DataFrame({"event_date": pd.to_datetime(["2020-01-01", "2020-01-15", "2020-01-31"]), "x": [1, 2, 3]})

    kept, start, end = select_window(df, config(window_days=20))

    assert (start, end) == ("2020-01-12", "2020-01-31")
    assert list(kept["x"]) == [2, 3]


# --- Built-in checks --------------------------------------------------------------------------------------------


def test_clean_data_passes_every_builtin_check(tmp_path):
    w, cfg = window(tmp_path, days())
    assert builtin_checks(w, cfg) == {"evaluated": 5, "failed": 0, "failures": []}  # 2 + 2 features, 1 target


def test_a_feature_empty_in_the_whole_window_fails(tmp_path):
    w, cfg = window(tmp_path, {day: df.assign(x=np.nan) for day, df in days().items()})
    result = builtin_checks(w, cfg)
    (failure,) = result["failures"]
    assert failure["check"] == "feature_has_values" and failure["column"] == "x"
    assert failure["message"].startswith(
        "feature x has no value in the training window (2026-06-05..2026-07-04, 24 rows in 4 partition(s)): "
        "it is empty in every row"
    )
    assert "remove x from data.features.numeric" in failure["message"]


def test_a_numeric_feature_holding_only_text_counts_as_empty(tmp_path):
    w, cfg = window(tmp_path, {day: df.assign(x="unknown") for day, df in days().items()}, "csv")
    (failure,) = builtin_checks(w, cfg)["failures"]
    assert "its 24 values are text (e.g. 'unknown'), which training reads as missing" in failure["message"]


@pytest.mark.parametrize(
    ("change", "how"),
    [
        (lambda df: df.drop(columns="grp"), "the column is absent from date=2026-07-04/part-0.parquet"),
        (lambda df: df.assign(grp=None), "it is empty in every row of date=2026-07-04/part-0.parquet"),
    ],
    ids=["absent", "null"],
)
def test_a_feature_missing_from_the_newest_partition_fails_naming_it(tmp_path, change, how):
    w, cfg = window(tmp_path, days(d3=change))
    (failure,) = builtin_checks(w, cfg)["failures"]
    assert failure["check"] == "feature_in_newest_partitions" and failure["column"] == "grp"
    assert failure["partitions"] == ["date=2026-07-04"]
    assert failure["message"].startswith(
        f"feature grp has no value in the newest partition of the window (date=2026-07-04): {how}. "
        "The 3 earlier partition(s) hold 18 values of it"
    )


def test_recent_partitions_widens_or_turns_off_the_newest_partition_check(tmp_path):
    frames = days(d3=lambda df: df.drop(columns="grp"))
    w, cfg = window(tmp_path, frames, recent_partitions=2)
    assert builtin_checks(w, cfg)["failed"] == 0  # 2026-07-03 still has values
    w, cfg = window(
        tmp_path / "two",
        days(d2=lambda df: df.drop(columns="grp"), d3=lambda df: df.drop(columns="grp")),
        recent_partitions=2,
    )
    (failure,) = builtin_checks(w, cfg)["failures"]
    assert "the newest 2 partitions of the window (date=2026-07-03, date=2026-07-04)" in failure["message"]
    w, cfg = window(tmp_path / "off", frames, recent_partitions=0)
    assert builtin_checks(w, cfg) == {"evaluated": 3, "failed": 0, "failures": []}


def test_newest_partitions_follow_event_time_not_file_names(tmp_path):
    """A backfilled file with a late name but old rows is not the newest partition."""
    frames = days()
    frames["2026-07-05-backfill"] = day_frame(7, "2026-06-20").drop(columns="grp")
    w, cfg = window(tmp_path, frames)
    assert w.partitions[0].name == "date=2026-07-05-backfill" and w.partitions[-1].name == "date=2026-07-04"
    assert builtin_checks(w, cfg)["failed"] == 0


def test_a_target_with_empty_values_fails_with_count_and_partitions(tmp_path):
    def unlabeled(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(label=[0, 1, None, None, 1, None])

    w, cfg = window(tmp_path, days(d1=unlabeled, d3=unlabeled))
    (failure,) = builtin_checks(w, cfg)["failures"]
    assert failure["check"] == "target_has_labels" and failure["rows"] == 6
    assert failure["message"].startswith(
        "target label is empty in 6 of 24 rows (25.00%) of the training window, in 2 partition(s): "
        "date=2026-07-02 (3), date=2026-07-04 (3)"
    )
    assert "drop such rows from data.source" in failure["message"]


def test_failure_message_lists_builtin_checks_before_expectations(tmp_path):
    w, cfg = window(tmp_path, {day: df.assign(x=np.nan) for day, df in days().items()})
    summary = {"success": False, "evaluated": 0, "failed": 0, "failures": [], "checks": builtin_checks(w, cfg)}
    text = failure_message("m", summary, len(w.frame), "MLflow run r1, artifact data_validation.json")
    lines = text.splitlines()
    assert lines[0] == "Data validation failed for m: 1 of 4 built-in checks failed on 24 rows. No model was trained."
    assert lines[1].startswith("  - built-in feature_has_values(column='x'): feature x has no value")
