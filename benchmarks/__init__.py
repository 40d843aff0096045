"""Speed figures for the course. ``python -m benchmarks [NAME ...]`` runs every ``bench_*.py``."""
