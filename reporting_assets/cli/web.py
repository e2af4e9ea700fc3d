"""`reporting serve` and `reporting signin-link`: the web app and a reader's way in."""

from __future__ import annotations

import click
import uvicorn

from reporting_assets.cli.common import app_database
from reporting_assets.config import get_settings
from reporting_assets.lib.links import Links
from reporting_assets.web.app import create_app


@click.command("serve")
@click.option("--host", default=None, help="Address to listen on (default: web.host).")
@click.option("--port", type=int, default=None, help="Port (default: web.port).")
def serve(host: str | None, port: int | None) -> None:
    """Serve the web app: Today, the live notifications and the report archive."""
    settings = get_settings()
    app = create_app(settings, app_database())
    uvicorn.run(app, host=host or settings.web.host, port=port or settings.web.port,
                log_level="warning")  # fmt: skip


@click.command("signin-link")
@click.argument("address")
def signin_link(address: str) -> None:
    """Print a sign-in link for ADDRESS (what report emails carry), valid for
    web.link_max_age_hours."""
    settings = get_settings()
    links = Links.of(settings)
    click.echo(f"{settings.web.base_url}/signin/{links.token(address)}")
