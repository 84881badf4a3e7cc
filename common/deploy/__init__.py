"""Trained models exported for deployment: the formats and what each file carries
(``formats``, ``files``), the runtimes that run them (``runtimes``), a run exported and
checked (``export``), the trained model it is judged against (``trained``), and several
ONNX files in one session (``side_by_side``)."""
