"""MQTT 3.1 and 3.1.1 on the wire, without I/O: packets.py (types and
encoding), parser.py (bytes to packets), payloads.py (MQTT payloads and
PiCloud data, each way)."""
