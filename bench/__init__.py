"""Benchmarks: picloud against the obvious Tornado hub (bench/naive.py).

Run ``python -m bench --help``; README.rst's "Benchmarks" section explains.
"""
