"""Who may use a route: the API key, its role, the page's origin and the
client name, checked in ``prepare()`` by every protocol handler, and the JSON
error bodies of a refusal."""

from __future__ import annotations

import logging
from typing import Any, NamedTuple, Protocol

import ujson
from tornado.web import HTTPError

from ..exceptions import ProtocolError
from ..hub.keys import Grant, allows, fingerprint
from ..hub.limits import AUTH_FAIL_WINDOW
from ..hub.rights import Permissions
from ..wire.codec import validate_client_name
from .logs import WithholdsQuery
from .state import HubState

log = logging.getLogger("picloud.handlers")


class Refused(HTTPError):
    """An HTTP refusal whose message is sent to the client as JSON."""

    #: For ``check_access``: the error counters a refusal moves, the address
    #: a wrong key counts against, and whether the key was a valid one.
    counts: tuple[str, ...] = ()
    wrong_key: str | None = None
    key_valid = False

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(status, message.replace("%", "%%"))
        self.message = message
        self.extra = extra  # more fields of the JSON body


def _refused(status: int, message: str, counts: tuple[str, ...] = (), key_valid: bool = True,
             wrong_key: str | None = None, **extra: Any) -> Refused:
    refused = Refused(status, message, **extra)
    refused.counts, refused.key_valid, refused.wrong_key = counts, key_valid, wrong_key
    return refused


class Route(Protocol):
    """What a route asks of a key (the AccessMixin attributes below)."""

    action: str
    needs_client_name: bool
    shows_everything: bool


class Admission(NamedTuple):
    """What an accepted request's key and client name come to."""

    grant: Grant
    key_fingerprint: bytes | None
    client_name: str
    permissions: Permissions | None


def assess(state: HubState, request: Any, key: str | None, route: Route) -> Admission:
    """Whether ``request``, presenting ``key``, may use ``route``: its
    Admission, or Refused (401 for the key first, 403 for its role or the
    page's origin, then 400 for the client name). Moves no counter and logs
    nothing: ``check_access`` does that with what the Refused says, and a
    fast path may ask first and leave a refusal to it (server/upgrade.py)."""
    throttle = state.throttle
    address = throttled_address(request, state.config.xheaders)
    if address is not None and throttle.blocked(address):
        raise _refused(429, "too many wrong keys from this address: try again later", ("auth",), False)
    grant = state.auth.grant_of(key)
    if grant is None:
        wrong = address if key else None
        raise _refused(401, "missing api key" if not key else "invalid api key", ("auth",), False, wrong)
    action = route.action
    if not allows(grant.role, action):
        raise _refused(403, f"this key may not {action}", key_valid=False)
    if grant.restricted and route.shows_everything:
        # What it may see instead: a page can say so (the dashboard does).
        raise _refused(
            403, f"this key is held to some topics and {request.path} shows them all", key_valid=False,
            role=grant.role, topics=list(grant.topics),
        )
    # From here on the key was valid: the connection is pending no more,
    # refused or not.
    if not state.origins.allows(request.headers.get("Origin"), request.host):
        raise _refused(403, "origin not allowed")
    name = presented_client_name(request)
    needs_name = route.needs_client_name
    if needs_name and not name:
        raise _refused(400, "missing client name (clientName or X-API-Client-Name)", ("client_name",))
    client_name = ""
    # Where a route takes no name, one is read only when the key's rights
    # depend on it; a bad one is refused there only from a key bound to names.
    if name and (needs_name or grant.names is not None or grant.restricted):
        try:
            client_name = validate_client_name(name)
        except ProtocolError as exc:
            if needs_name or grant.names is not None:
                raise _refused(400, str(exc), ("client_name",)) from None
        if not grant.admits(client_name):
            raise _refused(403, f"this key may not use the client name {client_name!r}", ("auth",))
    permissions = grant.permissions(client_name)
    if permissions is not None and not permissions.patterns and action != "admin":
        whom = f"the client name {client_name!r}" if client_name else "a request without a client name"
        raise _refused(403, f"this key's topics leave nothing for {whom}")
    # Remembered so that a key revoked by SIGHUP closes its connections.
    return Admission(grant, None if key is None else fingerprint(key), client_name, permissions)


class AccessMixin(WithholdsQuery):
    """Key and client-name checks shared by every protocol route.

    Runs in ``prepare()``, so a refused websocket is answered before any
    upgrade: 401 for the key first, 403 for its role or the page's origin,
    then 400 for the client name (503 for capacity comes after all of them).
    """

    state: HubState
    request: Any
    needs_client_name = True
    client_name = ""
    role: str | None = None
    #: What the route needs the key's role to allow (hub/keys.py).
    action = "admin"
    #: Whether the route shows every event (/info, /stats, /metrics): refused
    #: to keys held to some topics.
    shows_everything = False
    key_fingerprint: bytes | None = None
    grant: Grant | None = None
    #: The key's topic rights on this connection; None: no limits (hub/rights.py).
    permissions: Permissions | None = None

    def initialize(self, state: HubState) -> None:
        self.state = state

    def presented_key(self) -> str | None:
        """The key this request presents (a route may accept another way)."""
        return presented_key(self.request)

    def check_access(self) -> None:
        key = self.presented_key()
        try:
            admission = assess(self.state, self.request, key, self)
        except Refused as refused:
            self.state.errors.update(refused.counts)
            if refused.wrong_key is not None:
                throttle = self.state.throttle
                if throttle.failed(refused.wrong_key):
                    log.warning(
                        "blocking %s for %gs after %d wrong keys in %gs",
                        refused.wrong_key, throttle.block, throttle.limit, AUTH_FAIL_WINDOW,
                    )
            if refused.key_valid:
                self.state.pending.settle(getattr(self.request.connection, "stream", None))
            raise
        self.admit(admission)

    def admit(self, admission: Admission) -> None:
        """What an accepted request's key and client name give the handler."""
        self.state.pending.settle(getattr(self.request.connection, "stream", None))
        grant = self.grant = admission.grant
        self.role = grant.role
        self.key_fingerprint = admission.key_fingerprint
        if admission.client_name:
            self.client_name = admission.client_name
        self.permissions = admission.permissions

    def peer_address(self) -> str:
        return peer_address(self.request)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, HTTPError):
            return  # a client's mistake: the access log has the status
        super().log_exception(typ, value, tb)

    def write_error(self: Any, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "message", None) or self._reason.lower()
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(encode_error_body(message, **getattr(exc, "extra", {})))


def encode_error_body(message: str, **extra: Any) -> bytes:
    return ujson.dumps({"error": message, **extra}, ensure_ascii=False, escape_forward_slashes=False).encode("utf-8")


def protocol_error_body(exc: ProtocolError) -> bytes:
    """The 400 answer to a bad ``POST /publish`` body."""
    extra = {} if exc.index is None else {"index": exc.index}
    return ujson.dumps({"error": str(exc), **extra}, ensure_ascii=False, escape_forward_slashes=False).encode("utf-8")


def peer_address(request: Any) -> str:
    """``host:port`` of the device (the forwarded host with --xheaders)."""
    context = request.connection.context
    address = getattr(context, "address", None)
    # The request's remote_ip, not the connection's: with --xheaders
    # Tornado puts the connection's back to the proxy's address once the
    # upgrade request is finished, before open() runs.
    host = request.remote_ip or getattr(context, "remote_ip", None) or ""
    if ":" in host:
        host = f"[{host}]"
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{host}:{address[1]}"
    return host


def presented_key(request: Any) -> str | None:
    """The API key of a request: the ``X-API-Key`` header, else ``apiKey``."""
    key = request.headers.get("X-API-Key")
    return query_arg(request, "apiKey") if key is None else key


def throttled_address(request: Any, xheaders: bool) -> str | None:
    """The address wrong keys are counted against: the device's. None for
    a reverse proxy's own requests (--xheaders without a forwarded address),
    which stand for every device behind it and are never blocked."""
    address = request.remote_ip or ""
    if xheaders:
        peer = getattr(request.connection.context, "address", None)
        if isinstance(peer, tuple) and peer and peer[0] == address:
            return None
    return address


def presented_client_name(request: Any) -> str | None:
    """The client name: ``clientName``, else the ``X-API-Client-Name`` header."""
    name = query_arg(request, "clientName")
    return request.headers.get("X-API-Client-Name") if name is None else name


def query_arg(request: Any, name: str) -> str | None:
    values = request.query_arguments.get(name)
    if not values:
        return None
    return values[-1].decode("utf-8", "replace")
