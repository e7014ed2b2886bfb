"""The protocol-neutral core: messages, subscriptions, the publish path,
history, retained values, presence, keys and limits, and the ports a broker
(hub/broker.py) and a store (hub/store.py) adapt. No Tornado, no sockets:
every front end drives the same hub."""
