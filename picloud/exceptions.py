"""Errors PiCloud raises on purpose.

    PiCloudError
    ├── ProtocolError      a client sent something the protocol does not allow
    │   └── Forbidden      ... that its key's rights do not cover (HTTP 403)
    ├── ConfigError        the hub cannot start with the settings it was given
    ├── BrokerError        the message broker is unreachable or misbehaving
    └── ClientError        picloud.client could not do what it was asked
        ├── AuthError      the hub refused the api key (HTTP 401)
        └── HubUnreachable no hub answered at the url (refused, timed out, DNS)

Messages are short, lower-case, and name the offending value; they are sent to
clients as they are, so they never contain secrets.
"""

from __future__ import annotations


class PiCloudError(Exception):
    """Base class of every error PiCloud raises on purpose."""


class ProtocolError(PiCloudError):
    """A frame or body broke the protocol; the connection stays usable."""

    def __init__(self, message: str, *, index: int | None = None, id: object = None) -> None:
        super().__init__(message)
        self.index = index
        self.id = id  # the request's "id", echoed in the error reply


class Forbidden(ProtocolError):
    """A publish or subscription outside the key's topic rights (hub/rights.py)."""


class ConfigError(PiCloudError):
    """The configuration cannot work (missing TLS files, port in use, ...)."""


class BrokerError(PiCloudError):
    """The broker cannot be reached or refused a request."""


class ClientError(PiCloudError):
    """The client could not publish, subscribe or read info."""


class AuthError(ClientError):
    """The hub answered 401: the api key is missing or wrong. Retrying cannot help."""


class HubUnreachable(ClientError):
    """Nothing answered at the hub's url; a later attempt may succeed."""
