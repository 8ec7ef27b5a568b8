"""``lnsim pathway``: each strategy's pathway as text and as a figure (as a user runs it)."""
from __future__ import annotations

import re

import pytest

from tests.conftest import SCENARIOS, load, run_lnsim

RESCUE = "strategies.screen_and_biopsy.after_severe_infection=immunoadsorption"
LADDER = list(load("workup.yaml").strategies[0].ladder)      # the scenario's own ladder (every strategy's)


@pytest.fixture(scope="module")
def workup_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pathway") / "figures"
    r = run_lnsim("pathway", SCENARIOS / "workup.yaml", "--set", RESCUE, "--out", out)
    assert r.returncode == 0, r.stderr
    return out, r


def test_writes_an_svg_per_strategy_naming_each_ladder_therapy(workup_run):
    out, _ = workup_run
    assert all(list(s.ladder) == LADDER for s in load("workup.yaml").strategies)
    for name in ("escalate_directly", "screen_only", "screen_and_biopsy"):
        svg = (out / f"pathway_{name}.svg").read_text(encoding="utf-8")
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
        for therapy in LADDER:
            assert therapy in svg, (name, therapy)
    biopsy = (out / "pathway_screen_and_biopsy.svg").read_text(encoding="utf-8")
    assert "plasma_exchange_tma" in biopsy and "Rescue after a severe infection" in biopsy
    assert "Rescue" not in (out / "pathway_escalate_directly.svg").read_text(encoding="utf-8")


def test_prints_the_pathway_with_the_strategy_timings(workup_run):
    _, r = workup_run
    text = r.stdout
    for name in ("escalate_directly", "screen_only", "screen_and_biopsy"):
        assert f"\n{name}: " in "\n" + text
    assert "first assessment at 3 months" in text and "reassessment at 6 months" in text
    steps = [line.split()[:2] for line in text.splitlines() if line.strip()[:2] in ("1.", "2.", "3.", "4.")]
    assert steps[:len(LADDER)] == [[f"{i}.", t] for i, t in enumerate(LADDER, 1)]
    assert re.search(r"^\s*1\.\s+rituximab_belimumab\s+assessed at 12 months", text, re.M)    # its own assessment time
    assert "immunoadsorption, assessed at 6 months, once per climb" in text            # the rescue rule
    assert "repeat biopsy" in text and "plasma_exchange_tma" in text                   # the work-up
    assert "mmf_maintenance for 3 years" in text and "renal flare" in text and "same_step" in text
    assert "wrote " in text and "pathway_screen_and_biopsy.svg" in text


def test_one_strategy_as_png(tmp_path):
    out = tmp_path / "one"
    r = run_lnsim("pathway", SCENARIOS / "capacity.yaml", "--strategy", "msc_second", "--format", "png",
                  "--out", out)
    assert r.returncode == 0, r.stderr
    assert [p.name for p in out.iterdir()] == ["pathway_msc_second.png"]
    assert (out / "pathway_msc_second.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "cells made first: 1 month" in r.stdout
    assert r.stdout.startswith("msc_second: ") and "\nfigure3: " not in "\n" + r.stdout   # one strategy only


@pytest.mark.parametrize("args, field, allowed", [
    (("--strategy", "no_such_strategy"), "--strategy", "rtx_belimumab, rtx_alone"),
    (("--format", "jpg"), "--format", "svg, png"),
    (("--set", "strategies.0.ladder=[no_such_therapy]"), "strategies.0.ladder.0", "rituximab"),
])
def test_bad_input_is_exit_2_naming_the_field(tmp_path, args, field, allowed):
    out = tmp_path / "figures"
    r = run_lnsim("pathway", SCENARIOS / "base.yaml", *args, "--out", out)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("lnsim: error:")
    assert f"field '{field}'" in r.stderr and "allowed: " in r.stderr and allowed in r.stderr
    assert not out.exists()                           # nothing written


def test_missing_scenario_is_exit_2(tmp_path):
    r = run_lnsim("pathway", tmp_path / "nope.yaml")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "scenario file not found" in r.stderr


def test_an_existing_folder_is_kept_unless_overwrite(tmp_path):
    out = tmp_path / "figures"
    args = ("pathway", SCENARIOS / "base.yaml", "--strategy", "rtx_alone", "--format", "png", "--out", out)
    assert run_lnsim(*args).returncode == 0
    first = (out / "pathway_rtx_alone.png").read_bytes()
    (out / "mine.txt").write_text("a user's file")
    (out / "pathway_rtx_alone.png").write_bytes(b"stale")
    r = run_lnsim(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "not empty" in r.stderr and "--overwrite" in r.stderr
    assert (out / "mine.txt").read_text() == "a user's file"          # nothing touched
    assert (out / "pathway_rtx_alone.png").read_bytes() == b"stale"
    r = run_lnsim(*args, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["pathway_rtx_alone.png"]
    assert (out / "pathway_rtx_alone.png").read_bytes()[:8] == first[:8] == b"\x89PNG\r\n\x1a\n"   # rewritten
