"""Load benchmarks (see README.md). Not part of the installed package."""
