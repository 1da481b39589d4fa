"""Benchmarks: stock nova-scheduler against nova-scheduler-safe.

``python -m benchmarks.run`` (see benchmarks/README.md) writes
benchmarks/RESULTS.md.
"""
