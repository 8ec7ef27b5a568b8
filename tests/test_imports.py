"""What the package imports: plotting (matplotlib) and EVPPI (pygam) libraries, and the other
libraries only some commands need, load only when used; no private module of a dependency is
imported. (Start-up time itself is measured by benchmarks/startup.py, not tested.)"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, SCENARIOS

ONLY_WHEN_USED = ("matplotlib", "pygam", "SALib", "lifelines", "distributed", "numba")


def _loaded(code: str, *args: str) -> dict:
    """Run ``code`` in a new interpreter; it prints a JSON object as its last line."""
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_import_cli_loads_no_plotting_or_evppi_library():
    code = ("import json, sys; import sim.reporting.cli; "
            f"print(json.dumps([m for m in {ONLY_WHEN_USED!r} if m in sys.modules]))")
    assert _loaded(code) == []


def test_import_sim_keeps_its_names():
    """``import sim`` is lazy but sim.simulate, sim.load_scenario, sim.Scenario and the layers (sim.inputs...)
    still resolve."""
    code = ("import json, sys, sim; before = 'sim.analysis.simulate' in sys.modules; "
            "ok = callable(sim.simulate) and callable(sim.load_scenario) and sim.inputs.__name__ == 'sim.inputs' "
            "and sim.Scenario.__name__ == 'Scenario' and 'simulate' in dir(sim); "
            "from sim import SimulationResult, write_outputs; "
            "print(json.dumps({'before': before, 'ok': ok}))")
    assert _loaded(code) == {"before": False, "ok": True}


def test_psa_loads_no_plotting_or_evppi_library_before_its_first_draw(tmp_path):
    """``lnsim psa`` up to its first draw (arguments, scenario, draw table) loads neither."""
    code = """
import json, os, sys
import sim.analysis.psa as psa

def first_draw(*a, **k):
    print(json.dumps([m for m in %r if m in sys.modules]), flush=True)
    os._exit(0)

psa.run_draw = first_draw
import sim.reporting.cli
sim.reporting.cli.main(sys.argv[1:])
""" % (ONLY_WHEN_USED,)
    loaded = _loaded(code, "psa", str(SCENARIOS / "base.yaml"), "--draws", "2", "--patients", "20", "--workers", "1",
                     "--quiet", "--engine", "fast", "--out", str(tmp_path / "psa"))
    assert loaded == []


def _private_imports(path: Path, root: Path = ROOT) -> list[str]:
    """Imports of a third-party module or name whose dotted path has a part starting with '_'."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] not in ("sim", "tests", "__future__") and any(p.startswith("_") for p in parts):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {name}")
    return found


def test_no_private_module_of_a_dependency_is_imported():
    files = sorted((ROOT / "sim").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py")) \
        + sorted((ROOT / "benchmarks").rglob("*.py"))
    assert [f for p in files for f in _private_imports(p)] == []


def test_a_private_import_is_found(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from numpy._core import multiarray\nimport numpy.random\nfrom sim._x import y\n")
    assert _private_imports(f, tmp_path) == ["m.py:1: numpy._core", "m.py:1: numpy._core.multiarray"]
