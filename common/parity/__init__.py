"""Parity between columns: the statistics and verdicts (``stats``), and the checks that run them (``checks``)."""
