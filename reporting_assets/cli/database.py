"""`reporting db upgrade`: bring the app database to the newest schema (Alembic migrations;
every process also does this when it first opens the database)."""

from __future__ import annotations

import alembic.command
import alembic.config
import click

# Every module that defines app-database tables, so that the metadata holds them all.
import reporting_assets.distribution.notify
import reporting_assets.distribution.realtime
import reporting_assets.records.acks
import reporting_assets.records.feed
import reporting_assets.records.intraday_events
import reporting_assets.records.leases
import reporting_assets.records.ledger
import reporting_assets.records.measurements
import reporting_assets.records.resolutions
import reporting_assets.records.reviews
import reporting_assets.records.usage  # noqa: F401
from reporting_assets.cli.common import app_database
from reporting_assets.resources.app_db import MIGRATIONS, metadata, migrate, schema_version


@click.group("db")
def db() -> None:
    """The app database (deliveries, reviews, notifications, check results)."""


@db.command("upgrade")
def upgrade() -> None:
    """Apply every migration the app database has not had yet."""
    engine = app_database().engine  # opening it migrates; say so explicitly all the same
    migrate(engine)
    click.echo(f"App database {engine.url.render_as_string(hide_password=True)} is at migration "
               f"{schema_version(engine)}")  # fmt: skip


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the migration changes.")
def revision(message: str) -> None:
    """Write a new migration from the difference between the table definitions and the app
    database (migrated first); review it before committing it."""
    engine = app_database().engine
    config = alembic.config.Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes.update(connection=conn, metadata=metadata)
        script = alembic.command.revision(config, message=message, autogenerate=True)
    click.echo(f"Wrote {script.path}: review it, then commit it")
