"""Who is reading: sign-in links signed per recipient (they expire), and the trusted header of
a company SSO proxy.

A link only *names* its reader. Opening it shows a page asking the reader to continue as that
address, and only that page's POST starts a session: a mail scanner or privacy proxy that
fetches the link signs nobody in.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.requests import Request

from reporting_assets.config import resolve
from reporting_assets.config.models import Settings

SALT = "sign-in link"


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


def reader(request: Request, settings: Settings) -> str | None:
    """The signed-in reader's address: the SSO proxy's header when the request comes from a
    trusted proxy, else the session's; None for nobody."""
    web = settings.web
    if web.sso_header and request.client and request.client.host in web.sso_proxies:
        named = request.headers.get(web.sso_header, "").strip().lower()
        if named:
            return named
    return request.session.get("reader")
