"""The app database: small transactional records (source loads now; ledger, reviews and
notifications later). SQLite by default, PostgreSQL in production, through SQLAlchemy."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import alembic.command
import alembic.config
import alembic.migration
import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from reporting_assets.config import resolve

metadata = sa.MetaData()

source_loads = sa.Table(
    "source_loads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("asset", sa.String(200), nullable=False),
    sa.Column("partition_key", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("backend", sa.String(64), nullable=False),
    sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
)

# Every quality check result, per asset partition: the report's quality appendix and the data
# team's notifications read it; the latest row per (asset, check, partition) is the current one.
check_results = sa.Table(
    "check_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("asset", sa.String(200), nullable=False),
    sa.Column("check_name", sa.String(200), nullable=False),
    sa.Column("partition_key", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("severity", sa.String(8), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_check_results_partition", "partition_key", "asset"),
)


def as_utc(value: datetime | str | None) -> datetime | None:
    """A time read back from the app database, as an aware UTC datetime: SQLite hands back
    naive UTC datetimes, and text from aggregates (MIN, MAX); PostgreSQL aware ones."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
# Not Alembic's default `alembic_version`: Dagster's PostgreSQL storage keeps its own there, and
# the two may share a database. (migrations/env.py names the same table.)
VERSION_TABLE = "reporting_schema_version"
_PG_MIGRATION_LOCK = 704372  # pg_advisory_lock key: one process migrates at a time


@contextmanager
def _one_migrator(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection held while nobody else migrates the same database: a PostgreSQL advisory
    lock, or a lock file beside a SQLite database."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text(f"SELECT pg_advisory_lock({_PG_MIGRATION_LOCK})"))
            conn.commit()
            try:
                yield conn
            finally:
                conn.execute(sa.text(f"SELECT pg_advisory_unlock({_PG_MIGRATION_LOCK})"))
                conn.commit()
        return
    path = engine.url.database
    with engine.connect() as conn:
        if not path or path == ":memory:":
            yield conn
            return
        with open(f"{path}.migrate.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield conn
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the app database to the newest schema (or `revision`): Alembic's migrations in
    `reporting_assets/migrations`, applied in one transaction. Safe when several processes
    start at once (one migrates, the others then find nothing to do)."""
    config = alembic.config.Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _one_migrator(engine) as conn:
        config.attributes["connection"] = conn
        alembic.command.upgrade(config, revision)
        conn.commit()


def schema_version(engine: sa.Engine) -> str | None:
    """The migration the database is at (None: never migrated)."""
    with engine.connect() as conn:
        context = alembic.migration.MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        )
        return context.get_current_revision()


@lru_cache(maxsize=16)
def make_engine(url: str) -> sa.Engine:
    """An engine that waits for locks instead of failing: SQLite in WAL mode with a busy timeout."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - executed by SQLAlchemy
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        migrate(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    engine = sa.create_engine(url, pool_pre_ping=True)
    migrate(engine)
    return engine


class AppDatabase(dg.ConfigurableResource):
    """Transactional store for what the platform records about itself."""

    url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite file")
    sqlite_path: str = "var/data/app.db"

    @property
    def engine(self) -> sa.Engine:
        url = self.url
        if not url:
            path = resolve(self.sqlite_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{path}"
        return make_engine(url)

    def record_checks(
        self, asset: str, partition_key: str, run_id: str, outcomes: dict[str, object]
    ) -> None:
        """Keep each check outcome ({check name: CheckOutcome}) of one asset partition."""
        now = datetime.now(UTC)
        rows = [dict(asset=asset, check_name=name, partition_key=partition_key, run_id=run_id,
                     passed=o.passed, severity=o.severity, description=o.description,
                     evaluated_at=now) for name, o in outcomes.items()]  # fmt: skip
        if rows:
            with self.engine.begin() as conn:
                conn.execute(check_results.insert(), rows)

    def latest_checks(self, partition_key: str, assets: list[str]) -> list[dict]:
        """The latest result of every check of these assets for one partition."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(check_results)
                .where(check_results.c.partition_key == partition_key,
                       check_results.c.asset.in_(assets))
                .order_by(check_results.c.id)
            ).mappings().all()  # fmt: skip
        latest = {(r["asset"], r["check_name"]): dict(r) for r in rows}
        return sorted(latest.values(), key=lambda r: (assets.index(r["asset"]), r["check_name"]))

    def record_source_load(
        self, asset: str, partition_key: str, run_id: str, rows: int, backend: str
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                source_loads.insert().values(
                    asset=asset,
                    partition_key=partition_key,
                    run_id=run_id,
                    rows=rows,
                    backend=backend,
                    loaded_at=datetime.now(UTC),
                )
            )
