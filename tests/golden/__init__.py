"""Golden transcripts: a full purchase in each language, as a reviewer reads it.

``python -m tests.golden`` (or ``make golden``) runs the purchase against the fake Telegram
and the sandbox and writes ``tests/golden/purchase_<language>.txt``;
``tests/test_golden.py`` runs it again and compares, with a readable diff. Volatile values
(order ids, dates, ports, keys, IPs, passwords) are replaced by placeholders
(``transcript.Normalizer``), so a run is the same every time.
"""
