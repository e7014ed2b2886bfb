"""The asyncio client, where it has always been imported from::

    from picloud.aclient import AsyncClient

It lives in ``picloud.client.aio``.
"""

from .client.aio import AsyncClient

__all__ = ["AsyncClient"]
