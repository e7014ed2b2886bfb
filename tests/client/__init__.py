"""Tests of picloud.client: the Python clients and the command-line tools, against real hubs."""
