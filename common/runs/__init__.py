"""A training run: its inputs, its result as plain data, its metrics, and how it is stored."""

MODES = ("native", "lockstep")  # here, not in ``inputs``: the command line needs them without numpy
