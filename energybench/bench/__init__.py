"""Benchmarks run by ``make bench`` (``python -m energybench.bench [NAME ...]``).

Each benchmark measures against a baseline in the same run and prints ratios.
"""
