"""Benchmarks run by hand; each writes its section of docs/performance.md."""
