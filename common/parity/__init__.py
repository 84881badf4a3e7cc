"""Parity between columns: the statistics and verdicts (``stats``), and the checks that run them (``checks``)."""

NATIVE_SEEDS = 5  # paired seeds per column in native parity; here so that run.py's help needs no numpy
