"""Every message is translated, and translations keep placeholders and HTML intact."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

import bot.i18n as bot_i18n
from bot.i18n import LOCALES_DIR, build_i18n, pick_language
from bot.i18n_update import extract

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
TAG = re.compile(r"</?[a-z-]+")


def _catalog(locale: str):
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=locale)


def _forms(string: str | tuple[str, ...] | None) -> list[str]:
    if not string:
        return []
    return list(string) if isinstance(string, tuple) else [string]


@pytest.fixture(scope="module")
def source_messages() -> list[str | tuple[str, ...]]:
    return [m.id for m in extract(ROOT) if m.id]


def test_russian_catalog_is_complete(source_messages):
    catalog = _catalog("ru")
    missing = [
        str(m) for m in source_messages
        if not (catalog.get(m) and all(_forms(catalog.get(m).string)))
    ]
    assert not missing, "untranslated (run python -m bot.i18n_update, then translate):\n" + (
        "\n".join(missing)
    )
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not fuzzy


def test_translations_keep_placeholders_and_tags(source_messages):
    catalog = _catalog("ru")
    for message_id in source_messages:
        translated = catalog.get(message_id)
        if translated is None:
            continue
        source = _forms(message_id)[-1]
        for form in _forms(translated.string):
            assert set(PLACEHOLDER.findall(source)) == set(PLACEHOLDER.findall(form)), message_id
            assert sorted(TAG.findall(source)) == sorted(TAG.findall(form)), message_id


def test_catalogs_compile_and_translate():
    i18n = build_i18n()
    assert "ru" in i18n.locales
    with i18n.context(), i18n.use_locale("ru"):
        assert i18n.gettext("🏠 Menu") != "🏠 Menu"


@pytest.mark.parametrize(
    ("code", "expected"),
    [("ru", "ru"), ("ru-RU", "ru"), ("en-GB", "en"), ("de", "en"), (None, "en"), ("", "en")],
)
def test_language_is_picked_from_telegram_code(code, expected):
    assert pick_language(code) == expected


def _copy_of_locales(tmp_path: Path) -> Path:
    source = tmp_path / "locales"
    shutil.copytree(LOCALES_DIR, source, ignore=shutil.ignore_patterns("*.mo"))
    return source


def test_compiled_catalog_is_kept_until_its_po_changes(tmp_path):
    source = _copy_of_locales(tmp_path)
    po_path = source / "ru" / "LC_MESSAGES" / "messages.po"
    mo_path = po_path.with_suffix(".mo")
    assert build_i18n(source).gettext("Nothing to cancel.", locale="ru") != "Nothing to cancel."
    compiled = mo_path.stat().st_mtime_ns
    build_i18n(source)
    assert mo_path.stat().st_mtime_ns == compiled  # a second start reuses it

    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale="ru")
    catalog["Nothing to cancel."].string = "Нечего отменять (новое)."
    with po_path.open("wb") as fh:
        write_po(fh, catalog, width=100, omit_header=False, sort_output=False)
    os.utime(po_path, ns=(compiled + 10**9, compiled + 10**9))  # edited after the compile
    changed = build_i18n(source).gettext("Nothing to cancel.", locale="ru")
    assert changed == "Нечего отменять (новое)."
    assert sorted(p.name for p in mo_path.parent.iterdir()) == ["messages.mo", "messages.po"]


def test_read_only_locales_are_compiled_into_a_scratch_directory(tmp_path, monkeypatch):
    source = _copy_of_locales(tmp_path)
    compile_catalogs = bot_i18n.compile_catalogs

    def read_only(src: Path, target: Path, **kwargs: bool) -> None:
        if target == src:
            raise PermissionError(13, "Permission denied", str(target))
        compile_catalogs(src, target, **kwargs)

    monkeypatch.setattr(bot_i18n, "compile_catalogs", read_only)
    assert build_i18n(source).gettext("Nothing to cancel.", locale="ru") != "Nothing to cancel."
    assert not (source / "ru" / "LC_MESSAGES" / "messages.mo").exists()
