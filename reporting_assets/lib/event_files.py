"""A day of product events, from PostHog to its partition file, without the day in memory.

DuckDB reads the batch-export files (or the Query API's pages, spooled to disk page by page),
keeps the events of the day, types the properties reports use and writes the partition as
Parquet, within the engine's memory limit (`lib.engine`). Python never holds the day: a day of
100 M events costs about the same memory as a day of 1 M.

Reading stays lenient and honest as in `lib.events`: a file whose columns were renamed or retyped,
that is truncated, or that a manifest lists but is gone becomes a problem in words naming the
file and the column, for the source's schema check to report; it is not a crash.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
from upath import UPath

from reporting_assets.lib.engine import EngineLimits, connect, quoted
from reporting_assets.lib.events import (
    RAW_SCHEMA,
    conform_raw,
    export_files,
    typed_select,
    unreadable,
)

# The raw columns as DuckDB types, and how a type is named in a problem (as Polars names it).
RAW_SQL_TYPES = {"uuid": "VARCHAR", "event": "VARCHAR", "distinct_id": "VARCHAR",
                 "timestamp": "TIMESTAMP WITH TIME ZONE", "properties": "VARCHAR"}  # fmt: skip
TYPE_NAMES = {"VARCHAR": "String", "BIGINT": "Int64", "INTEGER": "Int32", "DOUBLE": "Float64",
              "BOOLEAN": "Boolean", "TIMESTAMP WITH TIME ZONE": "Datetime(time_unit='us', "
              "time_zone='UTC')", "TIMESTAMP": "Datetime(time_unit='us', time_zone=None)",
              "DATE": "Date"}  # fmt: skip
_TEXT = ("VARCHAR", "JSON")
_NAIVE_TIMES = ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S")
_EMPTY_RAW = "SELECT " + ", ".join(
    f"NULL::{'TIMESTAMPTZ' if t.startswith('TIMESTAMP') else t} AS {c}"
    for c, t in RAW_SQL_TYPES.items()
) + " WHERE false"  # fmt: skip


def type_name(sql_type: str) -> str:
    """A DuckDB type as the problems name it."""
    return TYPE_NAMES.get(sql_type, sql_type)


@dataclass
class StagedDay:
    """A day's events written to `path` (typed, Parquet), and what went wrong reading them."""

    path: Path
    rows: int
    problems: list[str] = field(default_factory=list)


def _scannable(con: duckdb.DuckDBPyConnection, path: UPath) -> str:
    """How DuckDB names `path`: a local path, or the URL with its filesystem registered."""
    if path.protocol in ("", "file", "local"):
        return quoted(str(Path(path.path)))
    protocols = path.fs.protocol if isinstance(path.fs.protocol, tuple) else (path.fs.protocol,)
    if not set(protocols) & set(con.list_filesystems()):
        con.register_filesystem(path.fs)
    return quoted(str(path))


def _conformed_parquet(
    con: duckdb.DuckDBPyConnection, path: UPath, problems: list[str]
) -> str | None:
    """The column list that reads the file's raw columns in the expected types (a missing or
    mistyped column reported and left empty), or None when no row can be placed in a day."""
    source = f"read_parquet({_scannable(con, path)})"
    columns = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    exprs = []
    for name, wanted in RAW_SQL_TYPES.items():
        actual = columns.get(name)
        if actual is None:
            found = ", ".join(columns)
            problems.append(f"{path.name}: column '{name}' is missing (found: {found})")
            exprs.append(f"NULL::{wanted} AS {name}")
        elif actual == wanted or (wanted == "VARCHAR" and actual in _TEXT):
            exprs.append(f'"{name}"::{wanted} AS {name}')
        elif name == "timestamp" and actual in _NAIVE_TIMES:
            # A timestamp without a zone is UTC in PostHog's exports.
            exprs.append(f"timezone('UTC', \"{name}\"::TIMESTAMP) AS {name}")
        elif name == "timestamp" and actual == "VARCHAR":
            exprs.append(f'try_cast("{name}" AS TIMESTAMPTZ) AS {name}')
        else:
            problems.append(f"{path.name}: column '{name}' has type {type_name(actual)}, "
                            f"expected {type_name(wanted)}")  # fmt: skip
            exprs.append(f"NULL::{wanted} AS {name}")
    select = f"SELECT {', '.join(exprs)} FROM {source}"
    if columns.get("timestamp") == "VARCHAR":
        readable, rows = con.execute(
            f"SELECT count(timestamp), count(*) FROM ({select})"
        ).fetchall()[0]
    elif "timestamp" in columns:  # the footer's statistics say whether any value is there
        rows, nulls = con.execute(
            "SELECT sum(num_values), sum(stats_null_count) FROM parquet_metadata("
            f"{_scannable(con, path)}) WHERE path_in_schema = 'timestamp'"
        ).fetchall()[0]
        readable = (rows or 0) - (nulls or 0)
    if "timestamp" in columns and rows and not readable:
        problems.append(f"{path.name}: no readable timestamps; the file's rows were skipped")
        return None
    return ", ".join(exprs)


def _spooled_jsonl(path: UPath, spool: Path, problems: list[str]) -> UPath | None:
    """JSON-lines exports (small files, read one at a time) are conformed in Polars and spooled
    to Parquet beside the partition, then read like the Parquet files."""
    from reporting_assets.lib.events import _load

    loaded, names = _load(path)
    frame, found = conform_raw(loaded, path.name, names)
    problems.extend(found)
    if frame is None:
        return None
    spooled = spool / f"{path.name}.parquet"
    frame.write_parquet(spooled)
    return UPath(spooled)


def _scans(con: duckdb.DuckDBPyConnection, files: list[tuple[UPath, str]]) -> list[str]:
    """One SELECT per distinct layout: the files that read the same way are one `read_parquet`
    of them all, which DuckDB streams with one set of buffers (a scan per file would hold a set
    per file)."""
    layouts: dict[str, list[str]] = {}
    for path, columns in files:
        layouts.setdefault(columns, []).append(_scannable(con, path))
    return [f"SELECT {columns} FROM read_parquet([{', '.join(sources)}])"
            for columns, sources in layouts.items()]  # fmt: skip


def _fully_readable(con: duckdb.DuckDBPyConnection, select: str) -> bool:
    """Whether every data page of the file decodes (a file cut short mid-way may still have a
    readable footer)."""
    try:
        con.execute(f"SELECT bit_xor(hash(uuid, event, distinct_id, properties)) FROM ({select})")\
            .fetchall()[0]  # fmt: skip
    except duckdb.Error:
        return False
    return True


def write_typed_day(
    con: duckdb.DuckDBPyConnection,
    selects: list[str],
    start_utc: datetime,
    end_utc: datetime,
    dest: Path,
) -> int:
    """Write the events of `selects` (raw, conformed) with start_utc <= timestamp < end_utc to
    `dest`, typed, as zstd Parquet; return how many there were."""
    union = " UNION ALL ".join(f"({s})" for s in selects) if selects else _EMPTY_RAW
    window = (
        f"SELECT * FROM ({union}) WHERE timestamp >= {quoted(start_utc.isoformat())}::TIMESTAMPTZ "
        f"AND timestamp < {quoted(end_utc.isoformat())}::TIMESTAMPTZ"
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"COPY ({typed_select(f'({window})')}) TO {quoted(str(dest))} "
        "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)"
    )
    return con.execute(f"SELECT count(*) FROM read_parquet({quoted(str(dest))})").fetchall()[0][0]


def stage_export(
    root: str, start_utc: datetime, end_utc: datetime, dest: Path, limits: EngineLimits
) -> StagedDay:
    """The events of a PostHog batch export in the window, typed, written to `dest`."""
    problems: list[str] = []
    spool = dest.parent / f".{dest.name}.spool"
    spool.mkdir(parents=True, exist_ok=True)
    try:
        with connect(limits) as con:
            files = []
            for path, manifest in export_files(root, start_utc, end_utc):
                if not path.exists():
                    problems.append(f"{path.name}: listed in {manifest} but missing")
                    continue
                try:
                    read = _spooled_jsonl(path, spool, problems) if ".jsonl" in path.name else path
                    columns = read and _conformed_parquet(con, read, problems)
                except (OSError, ValueError, duckdb.Error, pl.exceptions.PolarsError) as exc:
                    problems.append(unreadable(path, exc))
                    continue
                if columns:
                    files.append((path, read, columns))
            try:
                scans = _scans(con, [(read, columns) for _, read, columns in files])
                rows = write_typed_day(con, scans, start_utc, end_utc, dest)
            except duckdb.Error:
                # A file whose footer reads but whose data does not (cut short or corrupt): find
                # it, say so, and write the day from the others.
                good = []
                for path, read, columns in files:
                    if _fully_readable(con, _scans(con, [(read, columns)])[0]):
                        good.append((read, columns))
                    else:
                        problems.append(unreadable(path, ValueError("a data page does not decode")))
                rows = write_typed_day(con, _scans(con, good), start_utc, end_utc, dest)
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    return StagedDay(dest, rows, problems)


def stage_pages(
    pages: Iterable[pl.DataFrame],
    start_utc: datetime,
    end_utc: datetime,
    dest: Path,
    limits: EngineLimits,
) -> StagedDay:
    """Events arriving page by page (the Query API), each page spooled to disk as it comes, then
    typed and written to `dest` like an export: one page in memory at a time."""
    spool = dest.parent / f".{dest.name}.spool"
    spool.mkdir(parents=True, exist_ok=True)
    try:
        written = []
        for number, page in enumerate(pages):
            name = spool / f"page-{number:06d}-{uuid.uuid4().hex[:8]}.parquet"
            page.select(list(RAW_SCHEMA)).cast(RAW_SCHEMA).write_parquet(name)
            written.append(quoted(str(name)))
        scans = [f"SELECT * FROM read_parquet([{', '.join(written)}])"] if written else []
        with connect(limits) as con:
            rows = write_typed_day(con, scans, start_utc, end_utc, dest)
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    return StagedDay(dest, rows)
