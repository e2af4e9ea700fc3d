"""The schema gate run as queries over a written file, for tables too large to hold in memory.

The rules are the same pandera models the in-memory gate validates (`quality.schemas`): each
column's presence, type, nulls, uniqueness and value checks become counts that DuckDB works out
over the Parquet file within the engine's memory limit, and the problems read word for word as
`checks.schema_problems` writes them. Only a handful of offending values per rule (the failure
samples) ever reach Python.
"""

from __future__ import annotations

from pathlib import Path

import pandera.polars as pa
import polars as pl

from reporting_assets.lib.engine import quoted
from reporting_assets.lib.formatting import plural

SAMPLES = 5
# Pandera dtypes as the DuckDB types a Parquet file holds them in.
SQL_TYPES = {
    "String": ("VARCHAR",),
    "Int64": ("BIGINT",),
    "Int32": ("INTEGER",),
    "Float64": ("DOUBLE",),
    "Boolean": ("BOOLEAN",),
    "Date": ("DATE",),
    "Datetime(time_unit='us', time_zone='UTC')": ("TIMESTAMP WITH TIME ZONE",),
}


def _condition(column: str, check: pa.Check) -> str:
    """The SQL condition a value meets when it passes `check` (nulls pass, as in pandera)."""
    stats, col = check.statistics, f'"{column}"'
    match check.name:
        case "greater_than_or_equal_to":
            return f"{col} >= {stats['min_value']!r}"
        case "greater_than":
            return f"{col} > {stats['min_value']!r}"
        case "less_than_or_equal_to":
            return f"{col} <= {stats['max_value']!r}"
        case "less_than":
            return f"{col} < {stats['max_value']!r}"
        case "in_range":
            low = ">=" if stats.get("include_min", True) else ">"
            high = "<=" if stats.get("include_max", True) else "<"
            return f"{col} {low} {stats['min_value']!r} AND {col} {high} {stats['max_value']!r}"
        case "isin":
            return f"{col} IN ({', '.join(repr(v) for v in stats['allowed_values'])})"
    raise ValueError(f"check {check.name} on '{column}' has no SQL form yet")


def _check_label(check: pa.Check) -> str:
    """The check as pandera names it in its failure cases, e.g. greater_than_or_equal_to(0)."""
    stats = check.statistics
    if check.name == "in_range":
        return f"in_range({stats['min_value']}, {stats['max_value']})"
    if check.name == "isin":
        return f"isin({stats['allowed_values']})"
    return f"{check.name}({next(iter(stats.values()))})"


Footer = dict[str, tuple[int | None, float | None, float | None]]


def _footer_statistics(con, source: str) -> Footer:
    """Per column, from the Parquet footer alone: its null count and, for numbers, its least and
    greatest value (None where a row group carries no statistics)."""
    rows = con.execute(
        "SELECT path_in_schema, "
        "CASE WHEN count(*) = count(stats_null_count) THEN sum(stats_null_count) END, "
        "min(TRY_CAST(stats_min_value AS DOUBLE)), max(TRY_CAST(stats_max_value AS DOUBLE)) "
        f"FROM parquet_metadata({source}) GROUP BY path_in_schema"
    ).fetchall()
    return {name: (None if nulls is None else int(nulls), low, high)
            for name, nulls, low, high in rows}  # fmt: skip


def _passes_everywhere(check: pa.Check, low: float | None, high: float | None) -> bool:
    """Whether the footer's least and greatest values prove every value passes `check`."""
    if low is None or high is None:
        return False
    stats = check.statistics
    match check.name:
        case "greater_than_or_equal_to":
            return low >= stats["min_value"]
        case "greater_than":
            return low > stats["min_value"]
        case "less_than_or_equal_to":
            return high <= stats["max_value"]
        case "less_than":
            return high < stats["max_value"]
        case "in_range":
            return low >= stats["min_value"] and high <= stats["max_value"]
    return False


def file_schema_problems(
    con, path: Path, *models: type[pa.DataFrameModel]
) -> tuple[list[str], pl.DataFrame]:
    """Every way the rows of the Parquet file at `path` break `models`, in the words
    `checks.schema_problems` uses, with up to five failure samples per rule.

    Counts come from the file's footer where it proves them (null counts; ranges whose least
    and greatest values pass); only a rule the footer cannot settle costs a scan, and all such
    rules share one.
    """
    source = quoted(str(path))
    relation = f"read_parquet({source})"
    actual = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
    footer = _footer_statistics(con, source)
    problems: list[str] = []
    known: dict[tuple[str, str], int] = {}  # (column, rule) -> failing rows, from the footer
    to_count: dict[tuple[str, str], str] = {}  # (column, rule) -> SQL condition of a failing row
    unique: list[str] = []
    for model in models:
        for name, column in model.to_schema().columns.items():
            if name not in actual:
                missing = f"column '{name}' is missing (columns: {', '.join(actual)})"
                problems += [missing] if missing not in problems else []
                continue
            wanted = SQL_TYPES.get(str(column.dtype))
            shown = next((k for k, v in SQL_TYPES.items() if actual[name] in v), actual[name])
            wrong = f"column '{name}' has type {shown}, expected '{column.dtype}'"
            if wanted and actual[name] not in wanted and wrong not in problems:
                problems.append(wrong)
            nulls, low, high = footer.get(name, (None, None, None))
            if not column.nullable:
                if nulls is not None:
                    known[(name, "not_nullable")] = nulls
                else:
                    to_count[(name, "not_nullable")] = f'"{name}" IS NULL'
            for check in column.checks:
                key = (name, _check_label(check))
                if nulls is not None and _passes_everywhere(check, low, high):
                    known[key] = 0
                else:
                    to_count[key] = f'"{name}" IS NOT NULL AND NOT ({_condition(name, check)})'
            if column.unique and name not in unique:
                unique.append(name)
    if to_count:
        counted = con.execute(
            "SELECT " + ", ".join(f"count(*) FILTER (WHERE {c})" for c in to_count.values())
            + f" FROM {relation}"
        ).fetchall()[0]  # fmt: skip
        known.update(zip(to_count, counted, strict=True))
    samples = []
    for (name, rule), n in known.items():
        if not n:
            continue
        cond = f'"{name}" IS NULL' if rule == "not_nullable" else to_count[(name, rule)]
        sample = f'SELECT "{name}" FROM {relation} WHERE {cond} LIMIT {SAMPLES}'
        values = [v for (v,) in con.execute(sample).fetchall()]
        samples += [(name, rule, None if v is None else str(v)) for v in values]
        if rule == "not_nullable":
            problems.append(f"column '{name}' has {plural(n, 'null value')}")
        else:
            examples = ", ".join(str(v) for v in values[:3])
            problems.append(f"column '{name}' fails {rule} in {plural(n, 'row')}, e.g. {examples}")
    for name in unique:
        n, values = duplicated(con, relation, name)
        if n:
            examples = ", ".join(values[:3])
            problems.append(f"column '{name}' has {plural(n, 'duplicated value')}, e.g. {examples}")
            samples += [(name, "field_uniqueness", v) for v in values]
    cases = pl.DataFrame(samples, schema=dict.fromkeys(("column", "check", "failure_case"),
                                                       pl.String), orient="row")  # fmt: skip
    return problems, cases


def duplicated(con, relation: str, column: str) -> tuple[int, list[str]]:
    """How many rows share their `column` value with another row (every copy counts, as in
    pandera), and a few of those values.

    Values are first grouped by a 64-bit hash (a small table however many rows there are); only
    the rows whose hash repeats are then compared by value, so a hash collision is never taken
    for a duplicate.
    """
    repeated = (
        f'SELECT h FROM (SELECT hash("{column}") AS h FROM {relation} '
        f'WHERE "{column}" IS NOT NULL) GROUP BY h HAVING count(*) > 1'
    )
    groups = con.execute(
        f'SELECT "{column}", count(*) AS n FROM {relation} '
        f'WHERE hash("{column}") IN ({repeated}) GROUP BY "{column}" HAVING count(*) > 1 '
        f'ORDER BY n DESC, "{column}"'
    ).fetchall()
    total = sum(n for _, n in groups)
    values = [str(v) for v, n in groups[:SAMPLES] for _ in range(min(n, 2))][:SAMPLES]
    return total, values
