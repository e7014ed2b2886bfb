"""The asyncio client, where it has always been imported from::

    from picloud.aclient import AsyncClient

It lives in ``picloud.client.aio``.
"""

from .client.aio import AsyncClient
from .client.wire import DEFAULT_URL, Gap, Message, Position
from .exceptions import AuthError, ClientError

__all__ = ["DEFAULT_URL", "AsyncClient", "AuthError", "ClientError", "Gap", "Message", "Position"]
