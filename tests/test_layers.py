"""The layout shows the direction of dependencies: no module imports a layer above it.

Top to bottom: the composition root (`bot`), Telegram input (`handlers`), Telegram output
(`views` and `keyboards`, side by side), domain services (`services`), then the API client
(`proxy_api`) and storage (`storage`) side by side, and `core` at the bottom. The sandbox
and the playground (with its Bot API emulator) are separate programs and import none of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What each layer may import, besides itself.
ALLOWED: dict[str, set[str]] = {
    "bot": {"handlers", "views", "keyboards", "services", "proxy_api", "storage", "core"},
    "handlers": {"views", "keyboards", "services", "proxy_api", "core"},
    "views": {"keyboards", "services", "proxy_api", "core"},
    "keyboards": {"views", "services", "proxy_api", "core"},
    "services": {"proxy_api", "storage", "core"},
    "proxy_api": {"core"},
    "storage": {"core"},
    "core": set(),
    "sandbox": set(),
    # The playground composes the sandbox, the emulator and the bot like a second composition
    # root; its emulator (playground/emulator) imports none of ours, see the test below.
    "playground": {"bot", "core", "sandbox"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_no_module_imports_a_layer_above_it(layer: str) -> None:
    ours = set(ALLOWED)
    wrong = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for name in sorted(_imports(path) & ours - {layer} - ALLOWED[layer]):
            wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_every_package_has_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - {"tests", "bench"} <= set(ALLOWED), packages


def test_no_test_module_imports_another() -> None:
    """Shared test helpers live in tests/e2e.py (and the fixtures' modules), not in tests."""
    wrong = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            for name in names:
                if name.split(".")[-1].startswith("test_"):
                    wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_the_emulator_imports_none_of_ours() -> None:
    """Tests and the playground share it, so it must stand in front of any bot unchanged."""
    wrong = []
    for path in sorted((ROOT / "playground" / "emulator").rglob("*.py")):
        for name in sorted(_imports(path) & (set(ALLOWED) | {"tests"})):
            wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "\n".join(wrong)
