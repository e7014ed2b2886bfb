"""The Python clients and the command-line tools they back; they speak the
wire protocol (``picloud.wire``) and nothing of the server.

``picloud.client`` is also the import path scripts use, as it always was::

    from picloud.client import Client

``client.sync`` is the client for plain scripts, ``client.aio`` the asyncio
one underneath it (also ``picloud.aclient``), ``client.commands`` the
``picloud publish``/``subscribe``/``info`` commands.
"""

from ..exceptions import AuthError, ClientError, HubUnreachable
from .aio import AsyncClient
from .sync import Client, publish_http
from .wire import DEFAULT_URL, Gap, Message, Position

__all__ = [
    "DEFAULT_URL", "AsyncClient", "AuthError", "Client", "ClientError", "Gap", "HubUnreachable", "Message",
    "Position", "publish_http",
]
