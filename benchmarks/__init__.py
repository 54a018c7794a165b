"""Benchmarks: `make bench` (or `python -m benchmarks NAME`) prints the figures quoted in the README."""
