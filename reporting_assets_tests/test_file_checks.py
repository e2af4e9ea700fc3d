"""The schema gate as queries over a file finds what pandera finds over the same rows in memory:
the same problems, counted the same way, in the same words."""

from datetime import date

import duckdb
import polars as pl
import pytest

from reporting_assets.quality.checks import schema_problems
from reporting_assets.quality.file_checks import file_schema_problems
from reporting_assets.quality.schemas import CloudCosts, PostHogEvents, RevenueProtectionDaily

UTC = pl.Datetime("us", "UTC")


def _events(n: int = 5000) -> pl.DataFrame:
    return pl.DataFrame({
        "uuid": [f"u{i:06d}" for i in range(n)],
        "event": ["$pageview"] * n,
        "distinct_id": [f"d{i % 97}" for i in range(n)],
        "timestamp": pl.Series(range(n)).cast(pl.Int64).cast(UTC),
        "account_id": [f"acct_{i % 31:05d}" for i in range(n)],
        "amount_minor": [None] * n,
        "currency": [None] * n,
        "mrr": [float(i % 400) for i in range(n)],
        "previous_mrr": [None] * n,
    }).cast({"amount_minor": pl.Int64, "currency": pl.String,
             "previous_mrr": pl.Float64})  # fmt: skip


def _both(frame: pl.DataFrame, model, tmp_path) -> tuple[list[str], list[str]]:
    path = tmp_path / "t.parquet"
    # Small row groups: the footer's statistics are per row group, as in a large day.
    frame.write_parquet(path, row_group_size=700)
    in_memory, _ = schema_problems(frame, model)
    with duckdb.connect() as con:
        from_file, cases = file_schema_problems(con, path, model)
    # Each value problem comes with the offending values (columns gone or retyped have none).
    values = [p for p in from_file if "missing" not in p and "has type" not in p]
    assert cases.is_empty() == (not values)
    return sorted(p.split(", e.g.")[0] for p in in_memory), sorted(
        p.split(", e.g.")[0] for p in from_file
    )


def test_a_clean_file_has_no_problems(tmp_path):
    memory, file = _both(_events(), PostHogEvents, tmp_path)
    assert memory == file == []


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda f: f.with_columns(
            uuid=pl.when(pl.int_range(f.height) % 1000 == 7).then(pl.lit("u000001"))
            .otherwise("uuid")), id="duplicated events"),
        pytest.param(lambda f: f.with_columns(
            distinct_id=pl.when(pl.int_range(f.height) % 900 == 3).then(None)
            .otherwise("distinct_id")), id="nulls"),
        pytest.param(lambda f: f.with_columns(
            amount_minor=pl.when(pl.int_range(f.height) % 1200 == 5).then(-1999)
            .otherwise("amount_minor")), id="negative money"),
        pytest.param(lambda f: f.with_columns(
            mrr=pl.when(pl.int_range(f.height) == 4999).then(-0.5).otherwise("mrr"),
            account_id=pl.when(pl.int_range(f.height) < 3).then(None).otherwise("account_id")),
            id="a negative in the last row group and nulls in the first"),
        pytest.param(lambda f: f.drop("distinct_id"), id="schema drift: a column gone"),
        pytest.param(lambda f: f.with_columns(pl.col("amount_minor").cast(pl.Float64)),
                     id="schema drift: a column retyped"),
    ],
)  # fmt: skip
def test_the_file_gate_finds_what_pandera_finds(damage, tmp_path):
    memory, file = _both(damage(_events()), PostHogEvents, tmp_path)
    assert memory and file == memory


def test_set_membership_and_ranges_on_a_metric_table(tmp_path):
    table = pl.DataFrame({
        "plan": ["starter", "growth", "platinum", "total"],
        "payment_failure_rate": [0.1, 1.5, None, 0.2],
        "opening_mrr": [1.0, 2.0, 3.0, -4.0],
    })  # fmt: skip
    path = tmp_path / "m.parquet"
    table.write_parquet(path)
    with duckdb.connect() as con:
        found, _ = file_schema_problems(con, path, RevenueProtectionDaily)
    assert "column 'plan' fails isin(['starter', 'growth', 'scale', 'enterprise', 'total']) " \
           "in 1 row, e.g. platinum" in found  # fmt: skip
    assert "column 'payment_failure_rate' fails in_range(0, 1) in 1 row, e.g. 1.5" in found
    assert "column 'opening_mrr' fails greater_than_or_equal_to(0) in 1 row, e.g. -4.0" in found
    assert any(p.startswith("column 'date' is missing") for p in found)


def test_a_table_without_problems_by_footer_alone(tmp_path):
    costs = pl.DataFrame({
        "cost_date": [date(2026, 3, 1)] * 3, "service": ["a", "b", "c"],
        "team": ["x"] * 3, "cost_usd": [1.0, 2.0, 0.0], "daily_budget_usd": [5.0, 5.0, 5.0],
    })  # fmt: skip
    path = tmp_path / "c.parquet"
    costs.write_parquet(path)
    with duckdb.connect() as con:
        found, cases = file_schema_problems(con, path, CloudCosts)
    assert found == [] and cases.is_empty()
    # And a budget of zero (the model asks for more than zero) is found though no null is.
    costs.with_columns(daily_budget_usd=pl.Series([5.0, 0.0, 5.0])).write_parquet(path)
    with duckdb.connect() as con:
        found, _ = file_schema_problems(con, path, CloudCosts)
    assert found == ["column 'daily_budget_usd' fails greater_than(0) in 1 row, e.g. 0.0"]
