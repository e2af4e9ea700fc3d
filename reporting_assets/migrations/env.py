"""Alembic's environment for the app database. `reporting_assets.resources.app_db.migrate`
runs it with an open connection; `target_metadata` is given only when comparing the migrated
schema with the table definitions (autogenerate, and the test that they agree)."""

from alembic import context

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=config.attributes.get("metadata"),
    render_as_batch=True,  # SQLite cannot ALTER most things: batch operations copy the table
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
