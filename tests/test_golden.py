"""A full purchase in each language matches its golden transcript (tests/golden/*.txt).

After a deliberate change of what the bot says: ``make golden`` (``python -m
tests.golden``), read the diff of the .txt files, and commit them with the change.
"""

from __future__ import annotations

import difflib

import pytest

from tests.conftest import BotHarness
from tests.golden.purchase import LANGUAGES, SETTINGS, golden_path, purchase_transcript


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_full_purchase_matches_its_golden_transcript(
    language, fake_telegram, sandbox, tmp_path
) -> None:
    harness = BotHarness(fake_telegram, sandbox, tmp_path, **SETTINGS)
    await harness.start()
    try:
        fresh = await purchase_transcript(harness, language)
    finally:
        await harness.stop()
    path = golden_path(language)
    golden = path.read_text(encoding="utf-8") if path.exists() else ""
    if fresh != golden:
        diff = "".join(difflib.unified_diff(
            golden.splitlines(keepends=True), fresh.splitlines(keepends=True),
            fromfile=f"{path.name} (golden)", tofile=f"{path.name} (this run)",
        ))
        pytest.fail(
            f"the purchase in {language!r} no longer reads as its golden transcript.\n"
            f"If the change is intended: make golden (python -m tests.golden), review "
            f"and commit tests/golden/*.txt.\n\n{diff}",
            pytrace=False,
        )


def test_volatile_values_become_placeholders() -> None:
    from tests.golden.transcript import Normalizer

    normalize = Normalizer()
    normalize.known("cm5kvjzcz90ru9wq14n4zz36l", "<order 1>")
    normalize.known("10.1.2.3", "<ip>")
    normalize.number(31280, "<port>")
    text = "Order cm5kvjzcz90ru9wq14n4zz36l · 10.1.2.3:31280 · $31280.00 · 2026-12-31 14:05 UTC"
    assert normalize(text) == "Order <order 1> · <ip>:<port> · $31280.00 · <date>"
