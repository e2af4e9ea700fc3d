"""`reporting pools`: each concurrency pool's limit on the Dagster instance, set from the code."""

from __future__ import annotations

import click
import dagster as dg

from reporting_assets.cli.common import dagster_home
from reporting_assets.lib.pools import POOL_LIMITS


def apply_pool_limits(instance: dg.DagsterInstance) -> dict[str, int]:
    """Set every pool's limit on the instance to the one in `reporting_assets.lib.pools` (what
    `dagster instance concurrency set <pool> <limit>` does); returns what is now set."""
    for pool, limit in POOL_LIMITS.items():
        instance.event_log_storage.set_concurrency_slots(pool, limit)
    return pool_limits(instance)


def pool_limits(instance: dg.DagsterInstance) -> dict[str, int]:
    """The limits the instance holds, set by hand or from `dagster.yaml`'s default_limit."""
    return {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()}


@click.command("pools")
@click.option("--apply", "apply_", is_flag=True, help="Set the limits the code asks for.")
def pools(apply_: bool) -> None:
    """Show each concurrency pool's limit on the Dagster instance beside the one the code asks
    for (`reporting_assets/lib/pools.py`); with --apply, set them. Run it once per instance,
    and again when a limit changes."""
    dagster_home()
    with dg.DagsterInstance.get() as instance:
        held = apply_pool_limits(instance) if apply_ else pool_limits(instance)
        default = instance.global_op_concurrency_default_limit
    click.echo(f"{'pool':<16} {'on the instance':>16} {'asked for':>10}")
    for pool, wanted in POOL_LIMITS.items():
        now = held.get(pool)
        shown = str(now) if now is not None else f"default {default}" if default else "none"
        mark = "" if now == wanted else "  (reporting pools --apply)"
        click.echo(f"{pool:<16} {shown:>16} {wanted:>10}{mark}")
