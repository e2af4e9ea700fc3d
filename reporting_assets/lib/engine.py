"""The DuckDB connection the heavy stages run in: bounded memory, spilling to disk beyond it.

A day of events can be larger than the machine's memory. DuckDB streams Parquet and sorts and
aggregates out of core when it is given a memory limit and a place to spill, so the stages that
touch every event (reading the export, typing properties, the gates, the aggregates) run here,
with `storage.engine` from the configuration, and keep no event in Python memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class EngineLimits:
    """How much of the machine DuckDB may use (see `storage.engine` in the configuration)."""

    memory_limit: str = "2GB"
    threads: int | None = None
    spill_dir: Path | None = None

    @classmethod
    def of(cls, settings) -> EngineLimits:
        from reporting_assets.config import resolve

        engine = settings.storage.engine
        return cls(engine.memory_limit, engine.threads, resolve(engine.spill_dir))


def connect(limits: EngineLimits | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection within `limits`; row order is kept only where a query
    says ORDER BY, which lets DuckDB stream instead of buffering."""
    limits = limits or EngineLimits()
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = '{limits.memory_limit}'")
    con.execute("SET preserve_insertion_order = false")
    if limits.threads:
        con.execute(f"SET threads = {int(limits.threads)}")
    if limits.spill_dir:
        Path(limits.spill_dir).mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = '{Path(limits.spill_dir).as_posix()}'")
    return con


def quoted(text: str) -> str:
    """`text` as an SQL string literal (a file name in a query)."""
    return "'" + text.replace("'", "''") + "'"
