"""Loading a warehouse export into DuckDB: all or nothing, errors that name the file, and the
CSV dialect stated rather than guessed."""

import shutil

import duckdb
import pytest

from reporting_assets.lib.warehouse import WarehouseLoadError, load_duckdb


@pytest.fixture
def export(demo_company, tmp_path):
    folder = tmp_path / "warehouse"
    shutil.copytree(demo_company["path"] / "warehouse", folder)
    return folder


def _count(path, table: str) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    finally:
        con.close()


def test_a_load_that_fails_half_way_keeps_the_previous_warehouse(export, tmp_path):
    target = tmp_path / "warehouse.duckdb"
    load_duckdb(target, export)
    before = _count(target, "cloud_costs")
    broken = export / "data" / "industry_benchmarks.csv"  # the last table loaded
    broken.write_text(broken.read_text() + '"an unterminated, row\n')
    with pytest.raises(WarehouseLoadError, match=r"industry_benchmarks\.csv: .*CSV Error"):
        load_duckdb(target, export)
    assert _count(target, "cloud_costs") == before  # the old file, whole
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-built left beside it


def test_a_doubled_quote_inside_a_quoted_field_loads(export, tmp_path):
    accounts = export / "data" / "accounts.csv"
    lines = accounts.read_text().splitlines()
    first = lines[1].split(",")
    first[1] = '"Acme ""North"", Ltd"'  # RFC 4180: quotes doubled, a comma inside
    lines[1] = ",".join(first)
    accounts.write_text("\n".join(lines) + "\n")
    target = tmp_path / "warehouse.duckdb"
    load_duckdb(target, export)
    con = duckdb.connect(str(target), read_only=True)
    try:
        name = con.execute(
            "SELECT account_name FROM accounts WHERE account_id = ?", [first[0]]
        ).fetchall()[0][0]
    finally:
        con.close()
    assert name == 'Acme "North", Ltd'
