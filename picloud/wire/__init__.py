"""The PiCloud wire formats, without I/O: the JSON protocol (``codec``,
``requests``), event names and wildcard filters (``topics``) and websocket
frames (``frames``, ``frameparser``). Nothing here imports Tornado or opens
a socket, so every front end and client can share it."""
