"""Framework-free parts every column shares, in sub-packages by job: ``data``, ``replay``
(torch's random streams in numpy), ``parity``, ``present``, ``runs`` and ``files``; the
column registry is ``common.columns``."""
