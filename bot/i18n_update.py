"""`python -m bot.i18n_update`: extract every message and merge it into each `.po` file.

New messages arrive untranslated (the completeness test then fails until they are
translated); translations of unchanged messages are kept.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from bot.i18n import DOMAIN, LOCALES_DIR

SOURCE_DIRS = ("bot", "handlers", "keyboards", "views")
KEYWORDS = {"_": None, "gettext": None, "__": None, "lazy_gettext": None,
            "ngettext": (1, 2), "_n": (1, 2)}


def extract(project_root: Path) -> Catalog:
    catalog = Catalog(domain=DOMAIN)
    for name in SOURCE_DIRS:
        for filename, lineno, message, comments, context in extract_from_dir(
            project_root / name, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            catalog.add(message, locations=[(f"{name}/{filename}", lineno)],
                        auto_comments=comments, context=context)
    return catalog


def update(project_root: Path) -> list[str]:
    template = extract(project_root)
    changed = []
    for po_path in sorted(LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale=po_path.parent.parent.name, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with po_path.open("wb") as fh:
            write_po(fh, catalog, width=100, omit_header=False, sort_output=False,
                     include_previous=False)
        changed.append(str(po_path))
    return changed


if __name__ == "__main__":
    for path in update(Path(__file__).resolve().parent.parent):
        print(f"updated {path}", file=sys.stderr)
