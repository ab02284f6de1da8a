"""End-to-end benchmark of CS Goal Sync against the floor: `uv run python -m benchmarks`."""
