"""Benchmarks: picloud against the obvious Tornado hub (bench/naive.py).

Run ``python -m bench --help``; docs/benchmarks.rst explains.
"""
