"""The package's shape: imports flow one way, without cycles, and nothing shadows the standard library.

Layers, lowest first: core <- sandbox <- measure <- compressor <- models <- service <- review <- cli. A module may import
its own layer and the layers below it; every import counts, also those inside functions (imports kept
local for start-up speed are still dependencies), except those under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / "compression" / "ecocompress"
LAYERS = ["core", "sandbox", "measure", "compressor", "models", "service", "review", "cli"]
# Added to the standard library in 3.14 (``compression.zstd`` and friends); older Pythons do not list it.
NEWER_STDLIB = {"compression"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    hidden = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(n) for child in node.body for n in ast.walk(child))
    return hidden


def imports_of(path: Path, modules: set[str], name: str | None = None) -> set[str]:
    """The package modules ``path`` imports (``from x import y`` counts ``x.y`` when that is a module)."""
    tree = ast.parse(path.read_text())
    hidden = _type_checking_nodes(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ecocompress"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ecocompress") and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
    return {m for m in found if m in modules} - {name or module_name(path)}


def graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE_DIR.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def test_every_module_belongs_to_a_layer():
    loose = [m for m in graph() if m != "ecocompress" and layer_of(m) is None]
    assert loose == []


def test_no_module_imports_from_a_higher_layer():
    upward = [
        f"{module} ({LAYERS[layer_of(module)]}) imports {target} ({LAYERS[layer_of(target)]})"
        for module, targets in graph().items() if module != "ecocompress"
        for target in targets if target != "ecocompress" and layer_of(target) > layer_of(module)
    ]
    assert not upward, "\n".join(upward)


def import_cycles(edges: dict[str, set[str]]) -> list[str]:
    """Every cycle a depth-first search meets, as 'a -> b -> a'."""
    cycles: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    return cycles


def test_no_import_cycles():
    cycles = import_cycles(graph())
    assert not cycles, "\n".join(cycles)


def test_the_checker_sees_upward_imports_and_cycles(tmp_path):
    """The checks above can fail: a planted upward import and a planted cycle are both found."""
    modules = {"ecocompress.core.a", "ecocompress.core.b", "ecocompress.service.api"}
    a = tmp_path / "a.py"
    a.write_text("from ecocompress.service.api import x\ndef f():\n    from ecocompress.core import b\n")
    found = imports_of(a, modules, "ecocompress.core.a")
    assert found == {"ecocompress.service.api", "ecocompress.core.b"}
    assert layer_of("ecocompress.service.api") > layer_of("ecocompress.core.a")
    b = tmp_path / "b.py"
    b.write_text("import ecocompress.core.a\n")
    edges = {"ecocompress.core.a": found, "ecocompress.core.b": imports_of(b, modules, "ecocompress.core.b")}
    assert import_cycles(edges) == ["ecocompress.core.a -> ecocompress.core.b -> ecocompress.core.a"]
    assert import_cycles({"ecocompress.core.a": {"ecocompress.service.api"}}) == []


def test_installed_names_never_shadow_the_standard_library():
    """Our import name, and every package folder at the top of the checkout, differ from stdlib modules."""
    stdlib = set(sys.stdlib_module_names) | NEWER_STDLIB
    assert "ecocompress" not in stdlib
    top_packages = [p.parent.name for p in ROOT.glob("*/__init__.py")]
    assert [name for name in top_packages if name in stdlib] == []
    assert not (ROOT / "compression" / "__init__.py").exists(), "compression/ must stay a source folder, not a package"


def test_the_checkout_on_sys_path_leaves_compression_to_the_standard_library():
    """Run from the checkout (as `streamlit run app.py` is), `compression` is never our code."""
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.find_spec('compression')\n"
        "ours = spec is not None and spec.origin is not None and sys.argv[1] in spec.origin\n"
        "print('ours' if ours else 'not ours')\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "not ours"


@pytest.mark.skipif(sys.version_info < (3, 14), reason="the standard library has `compression` from Python 3.14")
def test_standard_library_compression_still_imports_from_the_checkout():
    subprocess.run([sys.executable, "-c", "import compression.zstd, ecocompress"], cwd=ROOT, check=True)


def test_the_installed_package_is_this_checkout():
    spec = importlib.util.find_spec("ecocompress")
    assert spec is not None and Path(spec.origin).resolve() == PACKAGE_DIR / "__init__.py"


def test_the_distribution_installs_ecocompress_and_nothing_named_compression():
    from importlib import metadata

    try:
        dist = metadata.distribution("ecocompress")
    except metadata.PackageNotFoundError:
        pytest.skip("ecocompress is not installed (run the README's install command)")
    tops = {name for name, dists in metadata.packages_distributions().items() if "ecocompress" in dists}
    assert tops == {"ecocompress"}
    assert dist.metadata["Requires-Python"] == ">=3.10"  # no upper cap: 3.14 users can install it
