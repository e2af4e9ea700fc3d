"""Reading the warehouse views from DuckDB or PostgreSQL into Polars frames with one schema.

The same SQL runs on both engines; named parameters are written `:name` and translated per
engine. Every view has a declared Polars schema, so a frame read from DuckDB and one read from
PostgreSQL are identical, and a view that changes shape fails loudly instead of drifting.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path

import duckdb
import polars as pl

SCHEMA_SQL = Path(__file__).parents[1] / "demo" / "warehouse.sql"
TS = pl.Datetime("us")

VIEW_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "v_daily_cloud_cost": {
        "cost_date": pl.Date(),
        "service": pl.String(),
        "vendor": pl.String(),
        "team": pl.String(),
        "cost_usd": pl.Float64(),
        "utilization": pl.Float64(),
        "daily_budget_usd": pl.Float64(),
    },
    "v_cost_savings": {
        "opportunity_id": pl.String(),
        "identified_date": pl.Date(),
        "service": pl.String(),
        "team": pl.String(),
        "description": pl.String(),
        "monthly_savings_usd": pl.Float64(),
        "realized_date": pl.Date(),
        "realized_monthly_savings_usd": pl.Float64(),
    },
    "v_incidents": {
        "incident_id": pl.String(),
        "opened_at": TS,
        "resolved_at": TS,
        "severity": pl.String(),
        "service": pl.String(),
        "title": pl.String(),
        "resolution_hours": pl.Float64(),
    },
    "v_support_tickets": {
        "ticket_id": pl.String(),
        "account_id": pl.String(),
        "opened_at": TS,
        "first_response_at": TS,
        "resolved_at": TS,
        "priority": pl.String(),
        "category": pl.String(),
        "sla_first_response_hours": pl.Float64(),
        "sla_resolution_hours": pl.Float64(),
        "first_response_hours": pl.Float64(),
        "resolution_hours": pl.Float64(),
    },
    "v_deploy_runs": {
        "run_id": pl.String(),
        "kind": pl.String(),
        "service": pl.String(),
        "started_at": TS,
        "finished_at": TS,
        "status": pl.String(),
        "duration_minutes": pl.Float64(),
    },
    "v_initiatives": {
        "initiative_id": pl.String(),
        "name": pl.String(),
        "owner": pl.String(),
        "start_date": pl.Date(),
        "planned_end_date": pl.Date(),
        "actual_end_date": pl.Date(),
        "investment_usd": pl.Float64(),
        "expected_annual_benefit_usd": pl.Float64(),
    },
    "v_initiative_milestones": {
        "initiative_id": pl.String(),
        "milestone_id": pl.String(),
        "milestone": pl.String(),
        "planned_date": pl.Date(),
        "actual_date": pl.Date(),
    },
    "v_initiative_ledger": {
        "initiative_id": pl.String(),
        "month_start": pl.Date(),
        "spend_usd": pl.Float64(),
        "realized_benefit_usd": pl.Float64(),
    },
    "v_industry_benchmarks": {
        "kpi": pl.String(),
        "unit": pl.String(),
        "segment": pl.String(),
        "source_year": pl.Int64(),
        "p25": pl.Float64(),
        "p50": pl.Float64(),
        "p75": pl.Float64(),
        "p90": pl.Float64(),
    },
    "v_account_history": {
        "account_id": pl.String(),
        "account_name": pl.String(),
        "industry": pl.String(),
        "region": pl.String(),
        "created_date": pl.Date(),
        "plan": pl.String(),
        "status": pl.String(),
        "seats": pl.Int64(),
        "mrr": pl.Float64(),
        "valid_from": pl.Date(),
        "valid_to": pl.Date(),
    },
}

# Table load order respects the foreign key from account_history to accounts.
TABLES = (
    "accounts",
    "account_history",
    "cloud_costs",
    "cost_budgets",
    "cost_savings_opportunities",
    "incidents",
    "support_tickets",
    "deploy_runs",
    "initiatives",
    "initiative_milestones",
    "initiative_ledger",
    "industry_benchmarks",
)
_PARAM = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


class WarehouseError(RuntimeError):
    """The warehouse could not be read: missing file, unreachable server, or a changed view."""


def conform(frame: pl.DataFrame, view: str) -> pl.DataFrame:
    """Cast a frame read from `view` to the view's declared schema, failing on a changed shape."""
    expected = VIEW_SCHEMAS[view]
    missing = [c for c in expected if c not in frame.columns]
    if missing:
        raise WarehouseError(f"view {view} no longer has column(s) {', '.join(missing)}")
    return frame.select([pl.col(c).cast(t, strict=True) for c, t in expected.items()])


def _sql_statements(sql: str) -> list[str]:
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


# The CSV dialect the warehouse export is written in, stated rather than sniffed: RFC 4180
# (comma, double quotes, a quote inside a quoted field doubled), with a header row.
CSV_DIALECT = "FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', ESCAPE '\"', AUTO_DETECT false"


class WarehouseLoadError(RuntimeError):
    """A warehouse export could not be loaded; the message names the file and the problem."""


def load_duckdb(path: Path, warehouse_dir: Path) -> None:
    """Build a new DuckDB file from a warehouse export (`schema.sql` plus `data/<table>.csv`).

    The file is built beside the old one and swapped in only when every table loaded, so a load
    that fails half way leaves the previous warehouse as it was, and says which file failed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    con = duckdb.connect(str(tmp))
    try:
        for stmt in _sql_statements((warehouse_dir / "schema.sql").read_text()):
            con.execute(stmt)
        for name in TABLES:
            csv = warehouse_dir / "data" / f"{name}.csv"
            try:
                con.execute(f"COPY {name} FROM '{csv.as_posix()}' ({CSV_DIALECT})")
            except (duckdb.Error, OSError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise WarehouseLoadError(f"{csv}: {first}") from exc
        con.close()
        os.replace(tmp, path)
    finally:
        con.close()
        tmp.unlink(missing_ok=True)


def load_postgres(url: str, warehouse_dir: Path, schema: str = "public") -> None:
    """Create the warehouse tables and views in a PostgreSQL schema and COPY the CSVs in, in one
    transaction: a load that fails half way leaves the schema as it was and names the file."""
    import psycopg2

    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        cur.execute(f'CREATE SCHEMA "{schema}"')
        cur.execute(f'SET search_path TO "{schema}"')
        for stmt in _sql_statements((warehouse_dir / "schema.sql").read_text()):
            cur.execute(stmt)
        for name in TABLES:
            csv = warehouse_dir / "data" / f"{name}.csv"
            with open(csv, encoding="utf-8") as fh:
                try:
                    cur.copy_expert(
                        f"COPY {name} FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER ',', "
                        "QUOTE '\"', ESCAPE '\"')",
                        fh,
                    )
                except psycopg2.Error as exc:
                    raise WarehouseLoadError(f"{csv}: {str(exc).strip().splitlines()[0]}") from exc


class Warehouse:
    """Read-only access to the warehouse views on DuckDB (a file) or PostgreSQL (a URL)."""

    def __init__(
        self,
        backend: str,
        *,
        duckdb_path: Path | None = None,
        postgres_url: str | None = None,
        postgres_schema: str = "public",
    ):
        self.backend = backend
        self.duckdb_path = duckdb_path
        self.postgres_url = postgres_url
        self.postgres_schema = postgres_schema

    def read(
        self,
        view: str,
        where: str = "",
        params: Mapping[str, object] | None = None,
        order_by: str | None = None,
    ) -> pl.DataFrame:
        """Rows of `view` matching `where` (with `:name` parameters), in the view's schema."""
        if view not in VIEW_SCHEMAS:
            raise WarehouseError(f"unknown view {view}")
        sql = f"SELECT * FROM {view}"
        if where:
            sql += f" WHERE {where}"
        sql += f" ORDER BY {order_by or next(iter(VIEW_SCHEMAS[view]))}"
        params = dict(params or {})
        if self.backend == "duckdb":
            frame = self._read_duckdb(sql, params)
        elif self.backend == "postgres":
            frame = self._read_postgres(sql, params)
        else:
            raise WarehouseError(f"unknown warehouse backend {self.backend!r}")
        return conform(frame, view)

    def _read_duckdb(self, sql: str, params: dict) -> pl.DataFrame:
        if self.duckdb_path is None or not Path(self.duckdb_path).exists():
            raise WarehouseError(
                f"DuckDB warehouse file {self.duckdb_path} does not exist; run "
                "`reporting demo-data` (or `make demo`) to create the demo warehouse"
            )
        # Read-only connections never take the write lock, so any number of runs can read.
        con = duckdb.connect(str(self.duckdb_path), read_only=True)
        try:
            return con.sql(_PARAM.sub(r"$\1", sql), params=params).pl()
        finally:
            con.close()

    def _read_postgres(self, sql: str, params: dict) -> pl.DataFrame:
        import psycopg2

        if not self.postgres_url:
            raise WarehouseError("the PostgreSQL warehouse URL is not set")
        with psycopg2.connect(self.postgres_url) as conn, conn.cursor() as cur:
            cur.execute(f'SET search_path TO "{self.postgres_schema}"')
            cur.execute(_PARAM.sub(r"%(\1)s", sql), params)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
