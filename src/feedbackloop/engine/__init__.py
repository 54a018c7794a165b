"""The pure analysis engine: DataFrames and settings in, dataclasses and DataFrames out (no I/O, no clock)."""
