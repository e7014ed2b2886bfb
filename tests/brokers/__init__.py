"""Tests of picloud.brokers."""
