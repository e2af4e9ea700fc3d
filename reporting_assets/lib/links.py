"""Addresses in the web app that reports, emails and notices link to, and the per-reader
sign-in links that report emails carry.

A sign-in link only *names* its reader (signed, so it cannot be forged, and it expires). The web
app asks the reader to continue as that address; only that click starts a session.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import quote, urlencode

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from reporting_assets.config import resolve
from reporting_assets.config.models import Settings

SALT = "sign-in link"


def report_path(report: str, period: str, file: str | None = None) -> str:
    """A report period's page in the web app (or one of its files)."""
    path = f"/reports/{quote(report)}/{quote(period)}"
    return f"{path}/{quote(file)}" if file else path


def alert_path(rule: str, day: str) -> str:
    """An alert's page: what fired, since when, who is asked, and its Acknowledge button."""
    return f"/alerts/{quote(rule)}/{quote(day)}"


def report_url(base_url: str, report: str, period: str, file: str | None = None) -> str:
    return base_url.rstrip("/") + report_path(report, period, file)


def alert_url(base_url: str, rule: str, day: str) -> str:
    return base_url.rstrip("/") + alert_path(rule, day)


class SignInError(ValueError):
    """A sign-in link that is tampered with, or too old."""


def web_secret(settings: Settings) -> str:
    """The secret that signs links and session cookies: the environment variable `web.secret_env`,
    else (a demo) one made once and kept, readable by its owner only, under the data root."""
    value = os.environ.get(settings.web.secret_env or "")
    if value:
        return value
    path = Path(resolve(settings.storage.data_root)) / "web.secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


class Links:
    """Signs a reader's address into a sign-in token, and reads it back."""

    def __init__(self, secret: str, max_age_s: float):
        self.serializer = URLSafeTimedSerializer(secret, salt=SALT)
        self.max_age_s = max_age_s

    @classmethod
    def of(cls, settings: Settings) -> Links:
        """The links of this deployment (its secret, and `web.link_max_age_hours`)."""
        return cls(web_secret(settings), settings.web.link_max_age_hours * 3600)

    def token(self, address: str) -> str:
        return self.serializer.dumps(address.strip().lower())

    def address(self, token: str) -> str:
        try:
            return self.serializer.loads(token, max_age=self.max_age_s)
        except SignatureExpired as exc:
            raise SignInError("this sign-in link has expired: use the one in a newer email") \
                from exc  # fmt: skip
        except BadSignature as exc:
            raise SignInError("this sign-in link is not valid") from exc

    def url(self, base_url: str, address: str, then: str = "/") -> str:
        """The link that signs `address` in and then opens `then` (a path in the web app)."""
        query = f"?{urlencode({'next': then})}" if then != "/" else ""
        return f"{base_url.rstrip('/')}/signin/{self.token(address)}{query}"


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a path in this app only (never another site)."""
    path = (path or "").strip()
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path
