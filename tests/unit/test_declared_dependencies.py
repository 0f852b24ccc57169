"""Every third-party module the installed package imports is a declared dependency.

A fresh ``pip install .`` brings only what pyproject.toml declares; a module that happens to be
installed here (as a dependency of a test tool, say) hides the omission from every other test.
The imports are read from the source (every ``import``, also those inside functions), mapped to
their distributions with importlib.metadata, and compared with the package's requirements.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("danescan", "producer", "workers", "lab", "queries")


def _name(requirement: str) -> str:
    """The normalized distribution name of a requirement string (PEP 503)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def third_party_imports() -> dict[str, set[str]]:
    """Top-level module -> the files importing it, for modules neither stdlib nor our own."""
    ours = set(PACKAGES)
    out: dict[str, set[str]] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for mod in _imports(path):
                if mod in ours or mod in sys.stdlib_module_names or mod == "__future__":
                    continue
                out.setdefault(mod, set()).add(str(path.relative_to(ROOT)))
    return out


def runtime_requirements() -> set[str]:
    """The installed danescan's requirements without extras (what ``pip install .`` brings)."""
    reqs = md.requires("danescan") or []
    return {_name(r) for r in reqs if not re.search(r";.*\bextra\s*==", r)}


def test_installed_metadata_matches_pyproject() -> None:
    """Guards the test below: a stale editable install would compare against old requirements."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert {_name(r) for r in declared} == runtime_requirements(), (
        "the installed danescan's metadata differs from pyproject.toml: reinstall (pip install -e .)")


def test_every_imported_module_is_declared() -> None:
    dists = md.packages_distributions()
    declared = runtime_requirements()
    missing = []
    for mod, files in sorted(third_party_imports().items()):
        owners = {_name(d) for d in dists.get(mod, [])}
        if not owners:
            missing.append(f"{mod} (not installed at all; imported by {sorted(files)[0]})")
        elif not owners & declared:
            missing.append(f"{mod} from {sorted(owners)} (imported by {sorted(files)[0]})")
    assert not missing, "imported but not declared in pyproject.toml: " + "; ".join(missing)


def test_the_scan_finds_imports_inside_functions() -> None:
    """The import scan itself: it must see lazy imports, or the check above proves little."""
    found = third_party_imports()
    assert "chdb" in found  # imported inside a function of workers/store
    assert "dns" in found and "cryptography" in found
