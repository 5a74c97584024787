"""Regenerate the golden transcripts: ``python -m tests.golden`` (``make golden``)."""

from __future__ import annotations

import asyncio
import sys

from tests.golden.purchase import LANGUAGES, golden_path, run


async def main(languages: list[str]) -> None:
    for language in languages:
        path = golden_path(language)
        path.write_text(await run(language), encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or list(LANGUAGES)))
