"""The hub's own web pages: the dashboard, the browser client and ``/stats``.

The pages and scripts are public static files (they reveal nothing about
messages or clients); everything they show comes from the key-protected
routes, the key being typed into the page once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tornado.routing import PathMatches, Rule
from tornado.web import HTTPError, RequestHandler, StaticFileHandler

from ..wire.codec import utc_timestamp
from .access import AccessMixin
from .logs import WithholdsQuery
from .state import HubState

STATIC_DIR = Path(__file__).parent.parent / "static"

# The dashboard loads nothing from elsewhere and talks only to its own hub.
DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class StaticFiles(WithholdsQuery, StaticFileHandler):
    """Static files that browsers revalidate, so an upgraded hub is seen at once."""

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        if "\x00" in absolute_path:  # no file has one: os.path would raise instead of say so
            raise HTTPError(404)
        return super().validate_absolute_path(root, absolute_path)

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Content-Type-Options", "nosniff")
        if path.endswith(".html"):
            self.set_header("Content-Security-Policy", DASHBOARD_CSP)
            self.set_header("Referrer-Policy", "no-referrer")


class NamedFile(StaticFiles):
    """Serves one fixed file of the static folder at a route of its own."""

    def initialize(self, path: str, filename: str) -> None:  # type: ignore[override]
        super().initialize(path)
        self.filename = filename

    async def get(self, path: str = "", include_body: bool = True) -> None:
        await super().get(self.filename, include_body)

    async def head(self, path: str = "") -> None:
        await super().head(self.filename)

    def set_extra_headers(self, path: str) -> None:
        super().set_extra_headers(path)
        if path.endswith(".js"):
            # Pages of other origins load the browser client with a script tag.
            self.set_header("Access-Control-Allow-Origin", "*")


class StatsHandler(AccessMixin, RequestHandler):
    """``GET /stats``: the key's role and the hub's counters, for the dashboard.

    It is also how a page checks a key: a browser cannot see the 401 that
    refuses a websocket, but it can see this one.
    """

    needs_client_name = False
    routine = True  # polled every 2 s by each open dashboard: logged at debug level
    action = "info"  # the dashboard's read-only (subscribe) key may see the counters
    shows_everything = True

    def prepare(self) -> None:
        self.check_access()

    def get(self) -> None:
        pubsub = self.state.pubsub
        self.set_header("Cache-Control", "no-store")
        self.finish({
            "role": self.role,
            "connections": pubsub.connection_count,
            "published": pubsub.published,
            "delivered": pubsub.delivered,
            "created_at": utc_timestamp(),
        })


def web_rules(state: HubState) -> list[Rule]:
    static = str(STATIC_DIR)
    page: dict[str, Any] = {"path": static, "filename": "dashboard.html"}
    return [
        Rule(PathMatches(r"/(?:dashboard)?"), NamedFile, page),
        Rule(PathMatches(r"/picloud\.js"), NamedFile, {"path": static, "filename": "picloud.js"}),
        Rule(PathMatches(r"/static/(.*)"), StaticFiles, {"path": static}),
        Rule(PathMatches(r"/stats"), StatsHandler, {"state": state}),
    ]
