"""
Cartback's benchmarks: each measured as a ratio against a baseline in the same run
(`python -m bench --help`). Results are recorded in docs/benchmarks.md.
"""
