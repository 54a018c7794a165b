"""The engine: pure analysis and optimisation over DataFrames and dataclasses (no I/O, no clock)."""
