"""MQTT 3.1 and 3.1.1 over TCP: a second front end on the same hub, sharing
its events, retained values, presence, keys, topic rights and limits with
the PiCloud protocol. listener.py accepts, connection.py reads and writes,
handshake.py answers CONNECT and ends a connection, publishing.py carries
out the rest, session.py is what the hub delivers to."""
