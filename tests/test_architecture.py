"""The import rules of `.importlinter` hold, and they do fail when a rule is broken."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
HEAVY = ("tensorflow", "keras", "streamlit")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300)


def test_the_import_contracts_hold() -> None:
    out = _lint(REPO)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "BROKEN" not in out.stdout


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the packages and the contracts, to break on purpose."""
    root = tmp_path_factory.mktemp("tree")
    for name in ("fashion_core", "pages", "ui"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / ".importlinter", root / ".importlinter")
    return root


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        ("fashion_core/store/_bad.py", "from fashion_core.labels import view\n", "The store imports nothing above it"),
        ("fashion_core/labels/_bad.py", "import streamlit\n", "fashion_core never imports streamlit"),
        ("fashion_core/analysis/_bad.py", "import tensorflow\n", "TensorFlow and Keras are imported only"),
        ("fashion_core/schema_bad.py", "from fashion_core import cli\n", "layered along the data's journey"),
        ("fashion_core/labels/_bad.py", "from fashion_core.labels import gallery\n", "No import cycles"),
    ],
)
def test_a_broken_rule_fails_the_check(tree_copy: Path, module: str, source: str, contract: str) -> None:
    bad = tree_copy / module
    text = source
    if contract == "No import cycles":  # gallery imports _bad, _bad imports gallery: a cycle
        gallery = tree_copy / "fashion_core/labels/gallery.py"
        original = gallery.read_text()
        gallery.write_text(original + "\nfrom fashion_core.labels import _bad  # noqa\n")
    bad.write_text(text)
    try:
        out = _lint(tree_copy)
    finally:
        bad.unlink()
        if contract == "No import cycles":
            gallery.write_text(original)
    assert out.returncode != 0
    broken = out.stdout.split("Broken contracts")[-1]
    assert contract in broken, out.stdout[-3000:]


def _modules_outside_modeling() -> list[str]:
    import fashion_core

    names = [m.name for m in pkgutil.walk_packages(fashion_core.__path__, "fashion_core.")]
    return [n for n in names if not n.startswith("fashion_core.modeling") and not n.endswith("__main__")]


def test_importing_any_module_outside_modeling_loads_no_tensorflow_keras_or_streamlit() -> None:
    modules = _modules_outside_modeling()
    assert len(modules) > 40  # the walk found the whole package, not a few modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"    heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "    if heavy:\n"
        "        print(name, heavy); break\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "", f"importing this module loaded: {out.stdout.strip()}"


def test_pages_stay_thin_and_library_modules_small() -> None:
    """Pages are UI only (under 250 lines); a library module has one job (under 400 lines)."""
    long_pages = {p.name: n for p in (REPO / "pages").glob("*.py") if (n := len(p.read_text().splitlines())) > 250}
    long_modules = {
        str(p.relative_to(REPO)): n
        for p in (REPO / "fashion_core").rglob("*.py")
        if "demo" not in p.relative_to(REPO / "fashion_core").parts[:1] and (n := len(p.read_text().splitlines())) > 400
    }
    assert long_pages == {} and long_modules == {}


def _subpackages() -> list[str]:
    import fashion_core

    return [m.name for m in pkgutil.iter_modules(fashion_core.__path__, "fashion_core.") if m.ispkg]


def test_every_subpackage_names_its_public_surface() -> None:
    """Each subpackage's ``__init__`` lists what it offers in ``__all__``, and every listed name resolves."""
    packages = _subpackages()
    assert len(packages) >= 14  # the walk found the packages, not a few
    missing = {}
    for name in packages:
        package = importlib.import_module(name)
        offered = getattr(package, "__all__", [])
        unresolved = [n for n in offered if not hasattr(package, n)]
        if not offered or unresolved or len(set(offered)) != len(offered):
            missing[name] = unresolved or "no __all__ (or a name listed twice)"
    assert missing == {}


def test_lazy_surfaces_list_exactly_what_they_load() -> None:
    """A lazy package's ``__all__`` and its name table agree, so a name cannot be listed but unloadable."""
    lazy = {name: importlib.import_module(name) for name in _subpackages()}
    lazy = {name: package for name, package in lazy.items() if hasattr(package, "_WHERE")}
    assert {"fashion_core.modeling", "fashion_core.serving", "fashion_core.analysis"} <= set(lazy)
    assert {name: sorted(set(p.__all__) ^ set(p._WHERE)) for name, p in lazy.items() if set(p.__all__) != set(p._WHERE)} == {}


# Imports of a module path that pages, ui and app.py may keep, each with its reason. Keep it empty.
DEEP_IMPORTS_ALLOWED: set[tuple[str, str]] = set()


def _deep_imports(path: Path, root: Path = REPO) -> list[tuple[str, str]]:
    """(file, module) for each ``from fashion_core.<package>.<module> import ...`` (or ``import``) in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        modules = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        found += [(str(path.relative_to(root)), m) for m in modules if m.startswith("fashion_core.") and m.count(".") >= 2]
    return found


def test_the_app_imports_fashion_core_only_through_package_surfaces() -> None:
    """Pages, ui and app.py import ``from fashion_core.<package> import name``, never a module's path."""
    files = [REPO / "app.py", *sorted((REPO / "pages").glob("*.py")), *sorted((REPO / "ui").rglob("*.py"))]
    assert len(files) > 20
    deep = [hit for f in files for hit in _deep_imports(f) if hit not in DEEP_IMPORTS_ALLOWED]
    assert deep == [], "import these names from the package (add them to its __init__ if missing)"


def test_the_surface_check_sees_a_deep_import_even_inside_a_function(tmp_path: Path) -> None:
    page = tmp_path / "page.py"
    page.write_text(
        "from fashion_core.labels import label_view\nfrom fashion_core.schema import FASHIONAI\n"
        "def f():\n    from fashion_core.labels.view import NO_MAP\n    import fashion_core.runs.files\n"
    )
    assert _deep_imports(page, tmp_path) == [("page.py", "fashion_core.labels.view"), ("page.py", "fashion_core.runs.files")]
