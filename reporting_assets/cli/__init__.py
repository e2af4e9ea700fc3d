"""`reporting …`: the commands analysts and operators run.

* demo company and demo run (`cli.demo`), config checks (`cli.configuration`)
* runs and backfills of the jobs (`cli.runs`); the concurrency pools' limits (`cli.pools`)
* reviews (`cli.reviews`), the feed and acknowledgements (`cli.feed`)
* the delivery ledger: resends and sends in doubt (`cli.deliveries`)
* the app database's migrations (`cli.database`)
* the web app and sign-in links (`cli.web`); replaying PostHog's pushed events (`cli.intraday`)

Each command's module is imported when the command runs (click's lazily loaded subcommands):
most of them build on the deployment's config, and `reporting check-config` must be able to
judge a config file that nothing else could be built from.
"""

from __future__ import annotations

import importlib
import sys

import click

from reporting_assets.config import ConfigError

COMMANDS = {
    "check-config": "configuration:check_config",
    "metrics-doc": "configuration:metrics_doc",
    "demo-data": "demo:demo_data",
    "demo": "demo:demo",
    "materialize": "runs:materialize",
    "backfill": "runs:backfill",
    "pools": "pools:pools",
    "review": "reviews:review",
    "ack": "feed:ack",
    "decision-speed": "feed:decision_speed_command",
    "feed": "feed:feed",
    "resend": "deliveries:resend",
    "in-doubt": "deliveries:in_doubt",
    "resolve": "deliveries:resolve_command",
    "ledger": "deliveries:ledger",
    "db": "database:db",
    "serve": "web:serve",
    "signin-link": "web:signin_link",
    "intraday": "intraday:intraday",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr = COMMANDS[cmd_name].split(":")
        return getattr(importlib.import_module(f"reporting_assets.cli.{module}"), attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:  # the deployment's config: one line naming file, key, problem
            click.secho(str(exc), fg="red", err=True)
            sys.exit(2)


@click.group(cls=_LazyGroup)
def main() -> None:
    """Executive reporting platform on Dagster."""
