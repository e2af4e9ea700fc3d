"""Alembic's environment for the app database. `reporting_assets.resources.app_db.migrate`
runs it with an open connection; `target_metadata` is given only when comparing the migrated
schema with the table definitions (autogenerate, and the test that they agree)."""

from alembic import context

config = context.config
connection = config.attributes["connection"]
metadata = config.attributes.get("metadata")


def ours(name, type_, parent_names) -> bool:
    """Only the app's own tables: a shared database also holds Dagster's."""
    return type_ != "table" or metadata is None or name in metadata.tables


context.configure(
    include_name=ours,
    connection=connection,
    # Its own version table: the app database may share a PostgreSQL database with Dagster's
    # instance storage, which keeps its own Alembic version in `alembic_version`.
    version_table="reporting_schema_version",
    target_metadata=metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things: batch operations copy the table
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
