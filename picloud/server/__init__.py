"""The Tornado front end: websocket and HTTP routes over one hub, the
command's serve loop, signals, TLS and keepalive. The MQTT front end will
sit beside it (``server/mqtt/``), on the same hub."""
