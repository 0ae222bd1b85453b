"""Runs the ragstream processes on one machine: for the demo, tests, eval and benchmarks."""
