"""The dependency direction of the package: each stage imports only stages before it (imports
inside functions included), there is no cycle, and each stage package imports on its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "seqalpha"

# The pipeline order, bottom first; a part may import parts of its own tier or of earlier ones.
ORDER: list[set[str]] = [
    {"errors", "jsonio", "logs", "paths", "xsection", "config"},  # shared small pieces
    {"data"},
    {"features", "labels"},
    {"dataset", "risk"},
    {"models"},
    {"train"},
    {"combine"},  # members' predictions -> one (after the walk-forward, before evaluation)
    {"evaluate", "portfolio", "backtest", "execution"},
    {"report", "warmup"},
    {"registries"},  # checks every registered name of a config: reads the stages' registries
    {"pipeline"},
    {"cli", "api"},  # the command line and the Python API over the orchestrator
]


def package_parts(root: Path) -> set[str]:
    """Top-level parts of a package: sub-packages and modules."""
    return {
        p.stem if p.is_file() else p.name
        for p in root.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and p.stem != "__init__")
    }


def import_edges(root: Path) -> dict[tuple[str, str], set[str]]:
    """(importer part, imported part) -> files, from every import statement of every file
    (function-local and relative imports included)."""
    pkg, parts = root.name, package_parts(root)
    edges: dict[tuple[str, str], set[str]] = {}
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root).parts
        src = rel[0] if len(rel) > 1 else Path(rel[0]).stem
        if src == "__init__":
            continue
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolved against the file's package
                    here = [pkg, *rel[:-1]][: len(rel) - node.level + 1]
                    base = ".".join([*here, *([node.module] if node.module else [])])
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                bits = name.split(".")
                if bits[0] == pkg and len(bits) > 1 and bits[1] in parts and bits[1] != src:
                    edges.setdefault((src, bits[1]), set()).add("/".join(rel))
    return edges


def graph_problems(root: Path, order: list[set[str]]) -> list[str]:
    """Parts missing from `order`, imports of a later tier (back edges), and import cycles."""
    tier = {part: k for k, parts in enumerate(order) for part in parts}
    edges = import_edges(root)
    problems = [
        f"{part}: not placed in the pipeline order"
        for part in sorted(package_parts(root))
        if part not in tier
    ]
    for (a, b), files in sorted(edges.items()):
        if a in tier and b in tier and tier[b] > tier[a]:
            problems.append(f"back edge {a} -> {b} (in {', '.join(sorted(files))})")
    problems += [f"cycle {' <-> '.join(c)}" for c in cycles({e for e in edges})]
    return problems


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components with more than one part (Tarjan), each sorted."""
    succ: dict[str, list[str]] = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
        succ.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(succ):
        if v not in index:
            visit(v)
    return out


def test_seqalpha_imports_follow_the_pipeline_order():
    assert graph_problems(SRC, ORDER) == []


PACKAGES = sorted(p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists())
STAGES = [*PACKAGES, "registries", "pipeline", "cli"]


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_imports_in_a_fresh_interpreter(stage):
    code = f"import seqalpha.{stage}"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr.strip().splitlines()[-1:]


# ------------------------------------------------------------------ the checker on a toy package


def write_package(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


TOY_ORDER = [{"errors"}, {"data"}, {"models"}, {"cli"}]


def test_checker_passes_a_toy_package_in_order(tmp_path):
    pkg = write_package(
        tmp_path / "toy",
        {
            "__init__.py": "",
            "errors.py": "",
            "data/__init__.py": "from toy.errors import *\n",
            "models/__init__.py": "from toy import data\nfrom ..errors import *\n",
            "cli.py": "import toy.models\n",
        },
    )
    assert graph_problems(pkg, TOY_ORDER) == []


def test_checker_finds_a_function_local_back_edge_and_its_cycle(tmp_path):
    pkg = write_package(
        tmp_path / "toy",
        {
            "__init__.py": "",
            "errors.py": "",
            "data/__init__.py": "",
            "data/load.py": "def f():\n    from toy.models.fit import g\n    return g\n",
            "models/__init__.py": "",
            "models/fit.py": "from toy.data import load\n",
        },
    )
    problems = graph_problems(pkg, TOY_ORDER)
    assert "back edge data -> models (in data/load.py)" in problems
    assert "cycle data <-> models" in problems


def test_checker_finds_a_relative_back_edge_and_an_unplaced_part(tmp_path):
    pkg = write_package(
        tmp_path / "toy",
        {
            "__init__.py": "",
            "data/__init__.py": "from ..models import fit\n",
            "models/__init__.py": "",
            "models/fit.py": "",
            "extras.py": "",
        },
    )
    problems = graph_problems(pkg, TOY_ORDER)
    assert "back edge data -> models (in data/__init__.py)" in problems
    assert "extras: not placed in the pipeline order" in problems
