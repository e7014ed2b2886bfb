"""Tests of picloud.brokers.redis: units without Redis, and real redis-server and hub processes."""
