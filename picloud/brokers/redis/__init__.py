"""Several hubs sharing one Redis: everything the Redis broker needs.

``broker.RedisBroker`` adapts the broker port; the other modules are its
parts (see broker.py's docstring for the map). Needs the ``redis`` extra.
"""

from .broker import RedisBroker

__all__ = ["RedisBroker"]
