"""A training run: its inputs, its result as plain data, its metrics, and how it is stored."""
