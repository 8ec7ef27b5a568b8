"""Instructions per PSA draw, counted by valgrind: a measure of speed that a busy machine does not move.

Timings on a shared machine move by up to 1.5 times from run to run (``benchmarks/drivers.py`` times
this commit and the old port side by side for that reason). The number of instructions a draw
executes does not move at all: this script runs the PSA loop of ``benchmarks/drivers.py`` (base
scenario, each draw ``model_for_draw``, ``tables_for_draw``, then aggregate mode) under valgrind's
callgrind, counting only the timed draws (the count is switched on after the warm-up with
``callgrind_control``), for this commit and for the old port (in a temporary git worktree), and
prints the instructions per draw: in all, in the compiled code (numba's), in Python's interpreter, in
numpy, and in the C and maths libraries.

Instructions are not time: a mispredicted branch or a cache miss costs many cycles and no
instruction, and the interpreter runs fewer instructions per cycle than compiled code. Slow: valgrind
runs Python about 50 times slower (some 4 minutes per commit at the defaults). Needs ``valgrind``.
``python benchmarks/instructions.py [--draws 5] [--patients 1000]``. Not a test.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from drivers import IMPORTS, OLD_PORT, ROOT  # noqa: E402  (the PSA loop's imports, of this commit and the old port)

LOOP = textwrap.dedent("""
    import gc, os, subprocess, sys
    from pathlib import Path
    ROOT = Path({root!r})
    {imports}
    model = build(load_scenario(str(ROOT / "scenarios" / "base.yaml")))
    _, costs, utils = resolve_tables(model.scenario)
    rows = psa.draw_table(psa.uncertainties(model, costs, utils), 7, {draws} + 2).to_dict(orient="records")
    def loop(rows, patients):
        for row in rows:
            md = psa.model_for_draw(model, row)
            ct, ut = psa.tables_for_draw(costs, utils, row)
            aggregate(md, patients, 7, int(row["draw"]), cost_table=ct, utility_table=ut)
    loop(rows[:2], 300)
    gc.collect()
    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], capture_output=True)
    loop(rows[2:], {patients})
    subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], capture_output=True)
""")

GROUPS = (("compiled (numba)", r"^\?\?\?$"), ("Python", r"libpython"), ("numpy", r"_multiarray_umath"),
          ("C library", r"libc\.so"), ("maths library", r"libm\.so"))


def count(label: str, root: Path, a) -> dict:
    """Instructions of the timed draws of ``label``'s PSA loop, by object file."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        code = LOOP.format(root=str(root), imports=IMPORTS[label], draws=a.draws, patients=a.patients)
        env = dict(os.environ, PYTHONPATH=str(root))
        # compile (or load) the compiled code natively first: numba's cache is keyed by the source
        # files' folder, which is new for the old port's worktree, and compiling under valgrind takes
        # about an hour
        subprocess.run([sys.executable, "-c", LOOP.format(root=str(root), imports=IMPORTS[label], draws=1, patients=10)],
                       capture_output=True, env=env, cwd=root, check=True)
        res = subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                              sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root)
        if res.returncode != 0 or not out.exists():
            raise RuntimeError(f"{label}: {res.stderr[-2000:]}")
        ann = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", str(out)],
                             capture_output=True, text=True, check=True).stdout
    by = collections.Counter()
    total = 0
    for line in ann.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(.*?\)\s+(.*)$", line)
        if not m:
            continue
        n, where = int(m.group(1).replace(",", "")), m.group(2)
        if "PROGRAM TOTALS" in where:
            total = n
            continue
        obj = re.search(r"\[([^\]]*)\]\s*$", where)
        by[obj.group(1) if obj else "?"] += n
    out = {"total": total}
    for name, pattern in GROUPS:
        out[name] = sum(n for obj, n in by.items() if re.search(pattern, obj))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--patients", type=int, default=1_000)
    a = ap.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("benchmarks/instructions.py needs valgrind (callgrind_control)")
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        wt = Path(tmp) / "old_port"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(wt), OLD_PORT],
                       check=True, capture_output=True)
        try:
            for label, root in (("batch driver", ROOT), ("old port", wt)):
                res[label] = count(label, root, a)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(wt)], capture_output=True)
    print(f"Instructions per PSA draw ({a.draws} draws x {a.patients} patients x 2 strategies), millions:")
    keys = ["total"] + [g for g, _ in GROUPS]
    print(f"  {'':24s}" + "".join(f"{k:>18s}" for k in keys))
    for label, r in res.items():
        print(f"  aggregate ({label:13s})" + "".join(f"{r[k] / a.draws / 1e6:18.1f}" for k in keys))
    ratio = res["batch driver"]["total"] / res["old port"]["total"]
    print(f"  ratio (this commit / old port): {ratio:.2f}")


if __name__ == "__main__":
    main()
