"""Benchmarks and the load generator (``earlgate bench ...``, ``make bench``)."""
