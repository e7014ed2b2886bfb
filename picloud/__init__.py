"""PiCloud: a self-hosted publish/subscribe hub for Raspberry Pi and IoT."""

__version__ = "0.1.0"
