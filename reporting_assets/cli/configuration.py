"""`reporting check-config` and `reporting metrics-doc`."""

from __future__ import annotations

from pathlib import Path

import click

from reporting_assets.analytics.recommend import rule_problems
from reporting_assets.cli.common import fail
from reporting_assets.config import ConfigError, config_path, get_settings, load_settings
from reporting_assets.metrics.docs import definitions_markdown, with_definitions


@click.command("check-config")
@click.argument("path", required=False)
def check_config(path: str | None) -> None:
    """Validate a configuration file (default: REPORTING_CONFIG or the bundled demo config)."""
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        fail(str(exc))
    if problems := rule_problems(settings.recommendations):
        fail("\n".join(f"{path or config_path()}: {p}" for p in problems))
    click.echo(
        f"OK: {len(settings.metrics)} metrics, {len(settings.alert_rules)} alert rules, "
        f"{len(settings.reports)} reports, {len(settings.distribution_lists)} distribution lists"
    )


@click.command("metrics-doc")
@click.option("--readme", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Rewrite the generated definitions block of this README in place.")  # fmt: skip
def metrics_doc(readme: str | None) -> None:
    """Print every metric's definition from the metric layer and the config (the README's table;
    the workbook's README sheet and every report's appendix print the same text)."""
    configs = get_settings().metrics
    if readme is None:
        click.echo(definitions_markdown(configs))
        return
    path = Path(readme)
    path.write_text(with_definitions(path.read_text(), configs))
    click.echo(f"Rewrote the metric definitions in {path}")
