"""Check results keep short check names ("complete", not "posthog_events_complete"): the asset
is part of a check's key, so the name says only what is checked.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_checks = sa.table(
    "check_results", sa.column("asset", sa.String), sa.column("check_name", sa.String)
)
# Old names were asset + "_" + check; String + String compiles to each dialect's concatenation.
_prefixed = sa.func.substr(_checks.c.check_name, 1, sa.func.length(_checks.c.asset) + 1) == (
    _checks.c.asset + sa.literal("_")
)


def upgrade() -> None:
    op.get_bind().execute(
        _checks.update()
        .where(_prefixed)
        .values(
            check_name=sa.func.substr(_checks.c.check_name, sa.func.length(_checks.c.asset) + 2)
        )
    )


def downgrade() -> None:
    op.get_bind().execute(
        _checks.update()
        .where(~_prefixed)
        .values(check_name=_checks.c.asset + sa.literal("_") + _checks.c.check_name)
    )
