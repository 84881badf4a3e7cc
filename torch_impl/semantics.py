"""What torch needs to compute what torch computes: nothing.

Every column has this module; in the others it holds the classes that give their
framework torch's semantics (``keras_impl/semantics.py``). torch is the reference, so
its table of adaptations is empty.
"""

ADAPTATIONS: dict[str, str] = {}
