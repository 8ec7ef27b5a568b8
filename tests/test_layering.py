"""The package's layers: each sub-package imports only the layers before it, modules stay small.

``sim/`` is cut in the order a run flows through it::

    base (errors, outputs) < inputs < model < engine < economics < analysis < reporting

* base: :mod:`sim.errors`, :mod:`sim.outputs` (import nothing else of ``sim``);
* inputs: the scenario schema, parameters, therapies, cohort presets, life tables, cost and
  utility tables, data files;
* model: the clinical core (with hazards and glucocorticoid schedules);
* engine: the drivers that run the core, random streams, cohort sampling, services, the run that
  makes the (uncosted) tables;
* economics: costs, QALYs, discounting, the incremental analysis;
* analysis: the costed ``simulate``, outcomes, PSA, VOI, sensitivity, calibration, validation;
* reporting: command line, console text, HTML report, plots, writers of output folders.

Every import in every module counts, at the top or inside a function (a lazy import is still a
dependency), except those under ``if TYPE_CHECKING:`` (annotations only, never run). Importing the
root package itself (``import sim`` for ``sim.__version__``) is allowed anywhere: it is loaded
before any of its modules. ``sim/__init__.py`` and ``sim/__main__.py`` are the entry points, above
every layer.

No module has more than :data:`MAX_LINES` lines, and no modules import each other in a circle
(the module graph without ``TYPE_CHECKING`` imports is acyclic).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

#: the layers, first to last: a module may import its own layer and the layers before it
LAYERS = ("base", "inputs", "model", "engine", "economics", "analysis", "reporting")
BASE = ("errors", "outputs")
ENTRY = ("sim", "sim.__main__")
MAX_LINES = 700


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> str | None:
    """The layer of a module of ``sim`` (None for the entry points)."""
    if module in ENTRY:
        return None
    parts = module.split(".")
    if parts[1] in BASE:
        return "base"
    if parts[1] not in LAYERS:
        raise ValueError(f"{module} is in no layer: put it in a sub-package of {LAYERS} (or add a layer here)")
    return parts[1]


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:``."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, module of sim) of every import of a file that runs (TYPE_CHECKING imports left out).
    ``from sim.x import y`` counts as ``sim.x.y`` when that is a module, else as ``sim.x``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]

    def is_module(name: str) -> bool:
        rel = Path(*name.split(".")[1:]) if "." in name else Path()
        return (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file()

    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "sim"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "sim":
                continue
            for a in node.names:
                sub = f"{mod}.{a.name}"
                if mod == "sim" and not is_module(sub):
                    out.append((node.lineno, f"sim:{a.name}"))    # a lazy top-level name: any layer behind it
                else:
                    out.append((node.lineno, sub if is_module(sub) else mod))
    return sorted(set(out))


def violations(root: Path) -> list[str]:
    """Every import that runs back up the chain of layers."""
    order = {name: i for i, name in enumerate(LAYERS)}
    found = []
    for path in sorted(root.rglob("*.py")):
        here = module_name(path, root)
        if layer_of(here) is None:
            continue
        for line, target in imports(path, root):
            if target == "sim" or target == "sim:__version__":
                continue
            if target.startswith("sim:"):
                found.append(f"{path.relative_to(root.parent)}:{line}: {here} ({layer_of(here)}) takes '{target[4:]}' from the package "
                             f"top, which may stand for any layer: import it from the module that defines it")
                continue
            there = layer_of(target)
            if there is None or order[there] > order[layer_of(here)]:
                found.append(f"{path.relative_to(root.parent)}:{line}: {here} ({layer_of(here)}) imports "
                             f"{target} ({there or 'entry point'})")
    return found


def long_modules(root: Path) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES:
            out.append(f"{path.relative_to(root.parent)}: {n} lines (at most {MAX_LINES}: split it by job)")
    return out


def cycles(root: Path) -> list[list[str]]:
    """Circles of modules that import each other (each circle once)."""
    graph = {module_name(p, root): {t for _, t in imports(p, root) if t != "sim"} for p in root.rglob("*.py")}
    found, state = [], {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = "open"
        for t in sorted(graph.get(m, ())):
            if state.get(t) == "open":
                found.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t, stack + [t])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return found


SIM = ROOT / "sim"


def test_every_module_is_in_a_layer():
    for path in SIM.rglob("*.py"):
        layer_of(module_name(path, SIM))


def test_no_import_runs_back_up_the_chain():
    assert violations(SIM) == []


def test_no_modules_import_each_other_in_a_circle():
    assert cycles(SIM) == []


def test_no_module_is_over_700_lines():
    assert long_modules(SIM) == []


def test_every_sub_package_has_an_init():
    """setuptools (``packages.find``, ``namespaces = false``) installs only folders with an ``__init__.py``."""
    missing = [str(d.relative_to(ROOT)) for d in SIM.rglob("*")
               if d.is_dir() and any(d.glob("*.py")) and not (d / "__init__.py").is_file()]
    assert missing == []



# -- the checks themselves fail on a violation ------------------------------------------------------

def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "sim"
    for rel, text in {"__init__.py": "", "errors.py": "", "inputs/__init__.py": "", "analysis/__init__.py": "",
                      "analysis/psa.py": "", "reporting/__init__.py": "", **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize("code", [
    "from sim.analysis.psa import run_psa\n",                       # a name of a module of a later layer
    "from sim.analysis import psa\n",                               # a module of a later layer
    "import sim.analysis.psa as psa\n",
    "def f():\n    from sim.reporting import plots\n",             # lazy imports count
    "from ..analysis import psa\n",                                  # relative imports too
    "from sim import simulate\n",                                   # a lazy name of the package top
])
def test_an_import_up_the_chain_is_found(tmp_path, code):
    root = _package(tmp_path, {"inputs/schema.py": code})
    found = violations(root)
    assert len(found) == 1 and "sim/inputs/schema.py" in found[0] and "sim.inputs.schema (inputs)" in found[0]


def test_imports_down_the_chain_annotations_and_the_root_package_are_allowed(tmp_path):
    root = _package(tmp_path, {
        "inputs/schema.py": "import sim\nfrom sim.errors import InputError\nfrom typing import TYPE_CHECKING\n"
                            "if TYPE_CHECKING:\n    from sim.analysis.psa import run_psa\n",
        "analysis/sensitivity.py": "from sim.inputs import schema\nfrom sim.analysis import psa\n"})
    assert violations(root) == []


def test_a_module_outside_the_layers_is_refused(tmp_path):
    root = _package(tmp_path, {"helpers.py": ""})
    with pytest.raises(ValueError, match="sim.helpers is in no layer"):
        violations(root)


def test_a_long_module_and_a_circle_are_found(tmp_path):
    root = _package(tmp_path, {"analysis/a.py": "from sim.analysis import b\n" + "x = 1\n" * MAX_LINES,
                               "analysis/b.py": "def f():\n    from sim.analysis import a\n"})
    assert long_modules(root) == [f"sim/analysis/a.py: {MAX_LINES + 1} lines (at most {MAX_LINES}: split it by job)"]
    assert cycles(root) == [["sim.analysis.a", "sim.analysis.b", "sim.analysis.a"]]
