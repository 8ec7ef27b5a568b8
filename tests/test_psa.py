"""Probabilistic sensitivity analysis: distributions from the evidence, draws, parallel and resumable runs."""
from __future__ import annotations

import filecmp
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis import psa
from sim.inputs.economic_tables import load_cost_table, load_utility_table
from sim.inputs.parameters import Param
from sim.inputs.build import build
from tests.conftest import SCENARIOS, load

SMALL = ["horizon_years=5"]


@pytest.fixture(scope="module")
def model():
    return build(load("base.yaml", SMALL))


@pytest.fixture(scope="module")
def items(model):
    return psa.uncertainties(model, load_cost_table(), load_utility_table())


def test_beta_from_counts():
    u = psa.param_uncertainty("x", Param("x", 4 / 6, count=(4, 6), form="count", args=(4, 6)))
    assert u.kind == "beta" and u.args == (4.0, 2.0)
    z = psa.param_uncertainty("z", Param("z", 0.0, count=(0, 6), form="count", args=(0, 6)))
    assert z.args == (0.5, 6.5)        # Jeffreys when a count is 0


def test_lognormal_from_interval_reproduces_the_interval():
    u = psa.param_uncertainty("hr", Param("hr", 3.8, interval=(2.1, 6.2)))
    lo, hi = u.interval()
    # a log-symmetric fit of an asymmetric published interval: geometric midpoint kept at the value
    assert u.kind == "lognormal" and lo < 3.8 < hi
    assert math.isclose(math.log(hi) - math.log(lo), math.log(6.2) - math.log(2.1), rel_tol=1e-9)


def test_therapy_response_is_dirichlet_over_three_counts(items):
    rec = build(load("base.yaml")).therapies["mmf"]
    (k_cr, n), (k_pr, _) = rec.complete.count, rec.partial.count          # the counts of the evidence (B10, B11)
    mmf = next(u for u in items if u.name == "therapies.mmf.response")
    assert mmf.kind == "dirichlet" and mmf.args == (float(k_cr), float(k_pr), float(n - k_cr - k_pr))
    x = mmf.sample(7, 4000)
    assert np.all(x.sum(axis=1) <= 1) and np.all(x >= 0)
    se = np.sqrt(x.var(axis=0) / len(x))
    assert np.all(np.abs(x.mean(axis=0) - np.array([k_cr, k_pr]) / n) < 4 * se)


def test_every_varied_quantity_says_why(items):
    t = psa.uncertainty_table(items)
    assert (t["why"].str.len() > 0).all()
    assert (t["distribution"] != "fixed").sum() > 50
    assert t.loc[t["parameter"] == "parameters.esrd_hr_class_IV", "distribution"].item() == "fixed"


def test_draws_do_not_depend_on_how_many(items):
    a = psa.draw_table(items, 5, 40)
    b = psa.draw_table(items, 5, 15)
    pd.testing.assert_frame_equal(a.iloc[:15].reset_index(drop=True), b)
    assert not a.equals(psa.draw_table(items, 6, 40))


def test_a_draw_changes_a_copy_not_the_model(model, items):
    row = psa.draw_table(items, 1, 3).iloc[2].to_dict()
    md = psa.model_for_draw(model, row)
    assert md.params["smr_lupus_nephritis"] == pytest.approx(row["parameters.smr_lupus_nephritis"])
    assert md.therapies["mmf"].complete.value == pytest.approx(row["therapies.mmf.response.complete"])
    default = build(load("base.yaml", SMALL))               # the shared model is left as it was built
    assert model.params["smr_lupus_nephritis"] == default.params["smr_lupus_nephritis"]
    assert model.therapies["mmf"].complete == default.therapies["mmf"].complete


def _run(model, out, **kw):
    args = dict(draws=6, patients=40, seed=3, progress=False)
    args.update(kw)
    return psa.run_psa(model, out, **args)


def test_identical_bytes_for_any_workers_and_chunk_size(model, tmp_path):
    ref = _run(model, tmp_path / "w1", workers=1, chunk_size=6)
    for w, c in ((2, 1), (4, 4)):
        other = _run(model, tmp_path / f"w{w}c{c}", workers=w, chunk_size=c)
        assert filecmp.cmp(ref / "psa.csv", other / "psa.csv", shallow=False)
        assert filecmp.cmp(ref / "draws.parquet", other / "draws.parquet", shallow=False)
    p = pd.read_csv(ref / "psa.csv")
    assert sorted(p["draw"].unique()) == list(range(6))
    assert (p["qaly"] <= p["life_years"] + 1e-12).all() and (p["cost"] >= 0).all()


def test_existing_output_needs_resume(model, tmp_path):
    _run(model, tmp_path / "o", workers=1)
    with pytest.raises(sim.InputError, match="--resume"):
        _run(model, tmp_path / "o", workers=1)
    with pytest.raises(sim.InputError, match="differs"):
        _run(model, tmp_path / "o", workers=1, resume=True, patients=41)


def _cmd(out, *extra):
    return [sys.executable, "-m", "sim", "psa", str(SCENARIOS / "base.yaml"), "--set", "horizon_years=5",
            "--draws", "12", "--patients", "40", "--seed", "9", "--chunk-size", "1", "--workers", "1",
            "--out", str(out), "--quiet", *extra]


def test_killed_run_resumes_to_identical_results(tmp_path):
    full = tmp_path / "full"
    r = subprocess.run(_cmd(full), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    part = tmp_path / "part"
    # the run dies abruptly (no clean-up, no exception handling) right after its third chunk is on
    # disk: a hard kill at a fixed point, not at a time
    killer = ("import os, sys, sim.analysis.psa as psa, sim.reporting.cli as cli\n"
              "real, n = psa.write_table, [0]\n"
              "def write_then_die(df, path):\n"
              "    real(df, path)\n"
              "    n[0] += path.name.startswith('draws_')\n"
              "    if n[0] == 3:\n"
              "        os._exit(137)\n"
              "psa.write_table = write_then_die\n"
              "sys.exit(cli.main(sys.argv[1:]))\n")
    killed = subprocess.run([sys.executable, "-c", killer, *_cmd(part)[3:]], capture_output=True, text=True,
                            timeout=600)
    assert killed.returncode == 137, killed.stderr
    assert len(list((part / "chunks").glob("draws_*.parquet"))) == 3
    assert not (part / "psa.csv").exists(), "the run finished before it could be killed"
    again = subprocess.run(_cmd(part), capture_output=True, text=True, timeout=600)
    assert again.returncode == 2 and "--resume" in again.stderr and "Traceback" not in again.stderr
    resumed = subprocess.run(_cmd(part, "--resume"), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert filecmp.cmp(full / "psa.csv", part / "psa.csv", shallow=False)


def test_dask_cluster_gives_the_serial_results(model, tmp_path):
    distributed = pytest.importorskip("distributed")
    serial = _run(model, tmp_path / "serial", workers=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, protocol="tcp") as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1")
        remote = _run(model, tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert filecmp.cmp(serial / "psa.csv", remote / "psa.csv", shallow=False)


def test_batch_driver_psa_equals_simpy_psa_to_rounding(model, tmp_path):
    """Aggregate mode prices the same trajectories from their records: equal to rounding."""
    pytest.importorskip("numba")
    a = pd.read_csv(_run(model, tmp_path / "simpy", workers=1) / "psa.csv")
    b = pd.read_csv(_run(model, tmp_path / "fast", workers=1, engine="fast") / "psa.csv")
    assert list(a["strategy"]) == list(b["strategy"]) and list(a["draw"]) == list(b["draw"])
    for c in psa.OUTCOMES + ("esrd", "death"):
        np.testing.assert_allclose(b[c], a[c], rtol=1e-9, atol=1e-9)


def test_batch_driver_psa_is_identical_for_any_workers(model, tmp_path):
    pytest.importorskip("numba")
    a = _run(model, tmp_path / "f1", workers=1, chunk_size=6, engine="fast")
    b = _run(model, tmp_path / "f2", workers=2, chunk_size=2, engine="fast")
    assert filecmp.cmp(a / "psa.csv", b / "psa.csv", shallow=False)


def test_a_psa_with_kept_tables_is_recosted_without_resimulating(model, tmp_path, monkeypatch):
    ran = _run(model, tmp_path / "run", workers=1, keep_tables=True)
    original = pd.read_csv(ran / "psa.csv")

    def no_simulation(*a, **k):
        raise AssertionError("re-costing must not simulate")
    monkeypatch.setattr("sim.analysis.simulate.simulate", no_simulation)
    monkeypatch.setattr("sim.analysis.psa.run_draw", no_simulation)
    # the same economics: the same numbers
    same = psa.recost_psa(model, ran, tmp_path / "same")
    pd.testing.assert_frame_equal(pd.read_csv(same / "psa.csv"), original, check_exact=False, rtol=1e-12)
    # no discounting: the discounted columns become the original undiscounted ones
    flat = build(load("base.yaml", SMALL + ["economics.discount_costs=0", "economics.discount_outcomes=0"]))
    r0 = pd.read_csv(psa.recost_psa(flat, ran, tmp_path / "flat") / "psa.csv")
    for c in ("cost", "qaly", "life_years"):
        np.testing.assert_allclose(r0[c], original[f"{c}_undiscounted"], rtol=1e-9)
    assert len(list((ran / "tables").glob("draw_*_states.parquet"))) == 6


def test_every_therapy_a_patient_can_reach_is_varied():
    """The PSA varies what the pathway can give: also the look-alikes' management (with a work-up)
    and the extracorporeal therapy after a severe infection, and their drug prices."""
    m = build(load("workup.yaml", ["strategies.escalate_directly.after_severe_infection=plasmapheresis"]))
    names = {u.name for u in psa.uncertainties(m, load_cost_table(None), load_utility_table(None))}
    for t in ("plasma_exchange_tma", "anticoagulation_immunoadsorption", "membranous_cni", "plasmapheresis"):
        assert f"therapies.{t}.response" in names, t
    assert "costs.warfarin" in names                  # the drug of anticoagulation_immunoadsorption
    base = build(load("base.yaml"))
    assert not any(n.startswith("therapies.plasma_exchange_tma") for n in
                   (u.name for u in psa.uncertainties(base)))   # no work-up: never reached


def test_a_cost_table_without_kind_column_is_varied(tmp_path):
    path = tmp_path / "costs.csv"
    pd.read_csv(Path(sim.__file__).parent / "data" / "costs.csv").drop(columns=["kind"]).to_csv(path, index=False)
    costs = load_cost_table(path)
    items = psa.uncertainties(build(load("base.yaml")), costs, load_utility_table(None))
    assert any(u.name == "costs.rituximab" and u.kind == "gamma" for u in items)


def test_a_draws_tables_look_up_what_their_tables_hold():
    """tables_for_draw builds a draw's cost and utility tables with their lookups made from the base
    table's rows (CostTable.with_values, UtilityTable.with_values); every lookup equals that of the
    same table read afresh from its DataFrame. The control: the draw did change values."""
    import dataclasses
    model = build(load("base.yaml"))
    costs, utils = load_cost_table(), load_utility_table()
    row = psa.draw_table(psa.uncertainties(model, costs, utils), 3, 2).to_dict(orient="records")[1]
    ct, ut = psa.tables_for_draw(costs, utils, row)
    fresh_c, fresh_u = dataclasses.replace(ct, table=ct.table.copy()), dataclasses.replace(ut, table=ut.table.copy())
    items = sorted({k[0] for k in costs.keys})
    assert repr([ct._rows[i] for i in items]) == repr([fresh_c._rows[i] for i in items])   # repr: NaN vials
    assert repr(ct._rows) != repr(costs._rows)            # the draw moved some prices
    assert ut._first == fresh_u._first and ut._first != utils._first
    assert ct.table["item"].tolist() == costs.table["item"].tolist()
