"""`reporting db upgrade`: bring the app database to the newest schema (Alembic migrations;
every process also does this when it first opens the database)."""

from __future__ import annotations

import click

from reporting_assets.cli.common import app_database
from reporting_assets.resources.app_db import migrate, schema_version


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
