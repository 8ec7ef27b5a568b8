"""The ``lnsim`` command.

    lnsim run SCENARIO.yaml [--patients N] [--seed S] [--out DIR] [--engine simpy|fast] [--set PATH=VALUE ...]
    lnsim parameters [SCENARIO.yaml] [--set ...] [--csv FILE]
    lnsim validate-scenario SCENARIO.yaml [--set ...]
    lnsim events
    lnsim validate [SCENARIO.yaml] --out DIR [--patients N] [--seed S] [--set ...] [--calibrated FILE]
    lnsim report SCENARIO.yaml --out DIR [--patients N] [--seed S] [--set ...] [--lang en|es] [--psa DIR]
    lnsim pathway SCENARIO.yaml [--strategy NAME] [--out DIR] [--format svg|png] [--set ...]

Bad input (a missing file, an unknown key, a value out of range) prints one message per problem
naming the file, the field, the value and what is allowed, and exits with status 2, without a
traceback and without writing anything.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.errors import InputError

EXIT_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lnsim", description="Discrete-event simulation of lupus nephritis treatment "
                                 "(induction, switching and the refractory ladder).")
    sub = ap.add_subparsers(dest="command", required=True)

    def common(p, scenario_required=True):
        if scenario_required:
            p.add_argument("scenario", help="scenario YAML file (see scenarios/)")
        else:
            p.add_argument("scenario", nargs="?", default=None, help="scenario YAML file (default: built-in base)")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                       help="override a scenario field by dotted path (repeatable), e.g. "
                            "strategies.0.first_assessment_months=6")

    run = sub.add_parser("run", help="simulate a scenario and write its result tables")
    common(run)
    run.add_argument("--patients", type=int, help="number of virtual patients (default: the scenario's)")
    run.add_argument("--seed", type=int, help="random seed (default: the scenario's)")
    run.add_argument("--out", default=None, help="output folder (default: results/<scenario name>)")
    run.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--engine", choices=["simpy", "fast"], default="simpy",
                     help="simulation engine: simpy (one process per patient, the reference) or fast (compiled; "
                          "identical results for scenarios without capacity limits)")

    par = sub.add_parser("parameters", help="print every parameter with its value, unit, evidence and note")
    common(par, scenario_required=False)
    par.add_argument("--csv", help="also write the table to this CSV file")
    par.add_argument("--full", action="store_true", help="print notes in full")
    par.add_argument("--psa", action="store_true", help="print each uncertain parameter's distribution and why")

    val = sub.add_parser("validate-scenario", help="check a scenario file without running it")
    common(val)

    vo = sub.add_parser("validate", help="simulate published study populations and compare with their outcomes "
                        "(calibration, internal and external validity): validation.csv and a forest plot")
    common(vo, scenario_required=False)
    vo.add_argument("--out", required=True, help="output folder for validation.csv, validation_forest.png/.svg")
    vo.add_argument("--patients", type=int, default=5000, help="virtual patients per study arm (default 5000)")
    vo.add_argument("--seed", type=int, default=20211227, help="random seed (default 20211227)")
    vo.add_argument("--calibrated", default=None, metavar="FILE",
                    help="a calibrated parameter file (python -m sim.analysis.calibration --out FILE) applied first")
    vo.add_argument("--targets", default=None, metavar="CSV", help="targets table (default sim/data/targets.csv)")
    vo.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    vo.add_argument("--quiet", action="store_true", help="no progress messages")

    sub.add_parser("events", help="print the event vocabulary of events.parquet")

    sens = sub.add_parser("sensitivity", help="one-way (tornado), scenario and Morris sensitivity analysis")
    common(sens)
    sens.add_argument("--patients", type=int, default=None, help="patients per run (default: the scenario's)")
    sens.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's)")
    sens.add_argument("--out", default=None, help="output folder (default: results/<scenario>_sensitivity)")
    sens.add_argument("--parameter", action="append", default=[], help="limit one-way to these quantities")
    sens.add_argument("--scenario-set", action="append", default=[], metavar="NAME:PATH=VALUE[;PATH=VALUE]",
                      help="a named scenario of overrides for scenario analysis (repeatable)")
    sens.add_argument("--no-one-way", action="store_true", help="skip the one-way analysis")
    sens.add_argument("--morris", type=int, default=0, metavar="R", help="Morris screening with R trajectories")
    sens.add_argument("--top", type=int, default=15, help="parameters shown in the tornado")
    sens.add_argument("--engine", choices=["simpy", "fast"], default="simpy", help="simulation engine")
    sens.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    sens.add_argument("--quiet", action="store_true", help="no progress bar")

    psa = sub.add_parser("psa", help="probabilistic sensitivity analysis: draws, CE plane, CEAC, EVPI")
    common(psa)
    psa.add_argument("--draws", type=int, default=200, help="parameter draws (default 200)")
    psa.add_argument("--patients", type=int, default=None, help="patients per draw (default: the scenario's)")
    psa.add_argument("--seed", type=int, default=None, help="random seed (default: the scenario's)")
    psa.add_argument("--out", default=None, help="output folder (default: results/<scenario>_psa)")
    psa.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    psa.add_argument("--chunk-size", type=int, default=None,
                     help="draws per result chunk (default: draws/20, between 10 and 100)")
    psa.add_argument("--resume", action="store_true", help="finish an interrupted run in --out")
    psa.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="run on an existing Dask distributed cluster (e.g. tcp://127.0.0.1:8786)")
    psa.add_argument("--engine", choices=["simpy", "fast"], default="simpy", help="simulation engine")
    psa.add_argument("--quiet", action="store_true", help="no progress bar")
    psa.add_argument("--keep-tables", action="store_true",
                     help="save every draw's patients, events and states tables, so the PSA can be re-costed")
    psa.add_argument("--recost", default=None, metavar="PSA_DIR",
                     help="re-cost a PSA run with --keep-tables using this scenario's economics (no re-simulation)")

    rep = sub.add_parser("report", help="simulate a scenario and write a self-contained HTML report")
    common(rep)
    rep.add_argument("--out", required=True, help="output folder for report.html and figures/")
    rep.add_argument("--patients", type=int, help="number of virtual patients (default: the scenario's)")
    rep.add_argument("--seed", type=int, help="random seed (default: the scenario's)")
    rep.add_argument("--lang", choices=["en", "es"], default="en", help="report language (default en)")
    rep.add_argument("--psa", default=None, metavar="DIR",
                     help="a PSA result folder with psa.csv (lnsim psa), for the PSA table, CE plane and CEAC")
    rep.add_argument("--overwrite", action="store_true",
                     help="replace report.html and figures/ in a non-empty output folder (other files are kept)")
    rep.add_argument("--quiet", action="store_true", help="no progress bar")

    pw = sub.add_parser("pathway", help="print each strategy's pathway (Figure 2 timing, work-up, Figure 3 ladder, "
                        "rescue, maintenance, flare re-entry) and draw it")
    common(pw)
    pw.add_argument("--strategy", default=None, metavar="NAME", help="only this strategy (default: every strategy)")
    pw.add_argument("--out", default=None, help="output folder for pathway_<strategy>.<format> "
                    "(default: results/<scenario>_pathway)")
    pw.add_argument("--format", default="svg", metavar="svg|png", help="figure format: svg (default) or png")
    pw.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    return ap


def _load(args):
    from sim.inputs.build import build
    from sim.inputs.loading import load_scenario
    if args.scenario is None:
        args.scenario = str(Path(__file__).resolve().parents[2] / "scenarios" / "base.yaml")
        if not Path(args.scenario).is_file():
            raise InputError("no scenario given and no scenarios/base.yaml beside the package",
                             allowed="lnsim parameters SCENARIO.yaml")
    sc = load_scenario(args.scenario, args.overrides)
    return build(sc)


def _check_positive(value, name):
    if value is not None and value <= 0:
        raise InputError("must be a positive whole number", file="command line", field=name, value=value,
                         allowed=">= 1")


def _check_seed(seed) -> None:
    if seed is not None and seed < 0:
        raise InputError("must be >= 0", file="command line", field="--seed", value=seed, allowed="0 to 2^63-1")


def cmd_run(args) -> int:
    from sim.reporting.console import console_summary
    from sim.analysis.simulate import simulate
    from sim.reporting.run_output import write_outputs
    _check_positive(args.patients, "--patients")
    _check_seed(args.seed)
    model = _load(args)
    from sim.outputs import check_new_folder
    out = check_new_folder(Path(args.out) if args.out else Path("results") / model.scenario.name, args.overwrite)
    result = simulate(model, patients=args.patients, seed=args.seed, progress=not args.quiet and sys.stderr.isatty(),
                      engine=args.engine)
    write_outputs(result, out, overwrite=args.overwrite)
    print(console_summary(result))
    print(f"\nwrote {out}/: patients.parquet, events.parquet, states.parquet, summary.csv, cea.csv, manifest.json")
    return 0


def cmd_parameters(args) -> int:
    import pandas as pd
    from sim.reporting.run_output import parameter_table
    model = _load(args)
    if args.psa:
        from sim.inputs.economic_tables import resolve_tables
        from sim.analysis.psa import uncertainties, uncertainty_table
        _, costs, utilities = resolve_tables(model.scenario)
        table = uncertainty_table(uncertainties(model, costs, utilities))
        if args.csv:
            table.to_csv(args.csv, index=False)
        with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250,
                               "display.max_colwidth", None if args.full else 80):
            print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(f"\n{len(table)} quantities, {(table['distribution'] != 'fixed').sum()} varied in the PSA")
        return 0
    table = parameter_table(model)
    if args.csv:
        table.to_csv(args.csv, index=False)
    shown = table.copy()
    shown["value"] = [f"{v:.6g}" if isinstance(v, float) else str(v) for v in shown["value"]]
    if not args.full:
        shown["note"] = [n if len(n) <= 90 else n[:87] + "..." for n in shown["note"]]
    shown = shown.drop(columns=["formula"])
    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250,
                           "display.max_colwidth", None if args.full else 90):
        print(shown.to_string(index=False))
    kinds = table["kind"].value_counts().to_dict()
    print(f"\n{len(table)} parameters: " + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items())))
    return 0


def cmd_sensitivity(args) -> int:
    from sim.analysis import sensitivity
    from sim.reporting.sensitivity_output import write_one_way
    from sim.inputs.build import build
    from sim.inputs.loading import load_scenario
    _check_positive(args.patients, "--patients")
    model = _load(args)
    from sim.outputs import check_new_folder
    out = check_new_folder(Path(args.out) if args.out else Path("results") / f"{model.scenario.name}_sensitivity",
                           args.overwrite)
    named = {}
    for spec in args.scenario_set:
        name, sep, rest = spec.partition(":")
        if not sep or not name or "=" not in rest:
            raise InputError("scenario must look like NAME:PATH=VALUE[;PATH=VALUE]", file="command line",
                             field="--scenario-set", value=spec)
        named[name] = [a for a in rest.split(";") if a]
    patients = args.patients or model.scenario.patients
    _check_seed(args.seed)
    seed = model.scenario.seed if args.seed is None else args.seed
    loader = lambda extra: build(load_scenario(args.scenario, list(args.overrides) + list(extra)))  # noqa: E731
    for extra in named.values():
        loader(extra)                         # validate every scenario before running anything
    from sim.outputs import staged_folder
    with staged_folder(out) as tmp:
        lines = []
        if not args.no_one_way:
            ow = sensitivity.one_way(model, patients, seed, args.engine, args.parameter or None, not args.quiet)
            ow.to_csv(tmp / "one_way.csv", index=False)
            write_one_way(ow, tmp, args.top, sensitivity.priced(model)[0].currency)
            for comp, g in ow.groupby("comparison", sort=False):
                g = g.assign(swing=(g["outcome_high"] - g["outcome_low"]).abs()).sort_values("swing", ascending=False)
                lines.append(f"One-way, incremental NMB of {comp} (base {g['base'].iloc[0]:,.0f}); largest swings:")
                lines.append(g.head(args.top)[["parameter", "low_value", "high_value", "outcome_low", "outcome_high"]]
                             .to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
        if named:
            sa = sensitivity.scenario_analysis(loader, named, patients, seed, args.engine)
            sa.to_csv(tmp / "scenarios.csv", index=False)
            lines.append("\nScenario analysis:\n" + sa.to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
        if args.morris:
            mo = sensitivity.morris(model, patients, seed, args.morris, engine=args.engine, progress=not args.quiet,
                                    names=args.parameter or None)
            mo.to_csv(tmp / "morris.csv", index=False)
            lines.append("\nMorris screening (top 10 by mu*):\n" + mo.groupby("comparison").head(10)
                         .to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
    print("\n".join(lines))
    print(f"\nwrote {out}/")
    return 0


def cmd_psa(args) -> int:
    from sim.reporting.psa_output import analyse_psa
    from sim.analysis.psa import run_psa
    _check_positive(args.draws, "--draws")
    _check_positive(args.patients, "--patients")
    _check_positive(args.chunk_size, "--chunk-size")
    _check_positive(args.workers, "--workers")
    _check_seed(args.seed)
    model = _load(args)
    out = Path(args.out) if args.out else Path("results") / f"{model.scenario.name}_psa"
    if out.exists() and not out.is_dir():
        raise InputError("output path is a file, not a folder", file=str(out), field="--out")
    if args.recost:
        from sim.analysis.psa import recost_psa
        recost_psa(model, args.recost, out, progress=not args.quiet)
        print(analyse_psa(model, out))
        return 0
    patients = args.patients or model.scenario.patients
    run_psa(model, out, draws=args.draws, patients=patients, seed=args.seed, workers=args.workers,
            chunk_size=args.chunk_size, resume=args.resume, scheduler=args.scheduler,
            progress=not args.quiet, engine=args.engine, keep_tables=args.keep_tables)
    print(analyse_psa(model, out))
    return 0


def cmd_report(args) -> int:
    import shlex
    from sim.outputs import check_new_folder
    from sim.reporting.psa_results import check_psa_strategies, read_psa
    from sim.reporting.report import write_report
    from sim.analysis.simulate import simulate
    _check_positive(args.patients, "--patients")
    _check_seed(args.seed)
    out = check_new_folder(Path(args.out), args.overwrite)
    psa = psa_source = None
    if args.psa is not None:
        psa, psa_source = read_psa(args.psa)
    model = _load(args)
    if psa is not None:
        check_psa_strategies(psa, [s.name for s in model.scenario.strategies], psa_source)
    result = simulate(model, patients=args.patients, seed=args.seed, progress=not args.quiet and sys.stderr.isatty())
    command = ["lnsim", "report", args.scenario, "--patients", str(result.n_patients), "--seed", str(result.seed)]
    for o in args.overrides:
        command += ["--set", o]
    command += (["--lang", args.lang] if args.lang != "en" else []) + (["--psa", args.psa] if args.psa else [])
    command += ["--out", args.out] + (["--overwrite"] if args.overwrite else [])
    path = write_report(result, out, lang=args.lang, psa=psa, psa_source=psa_source, overwrite=args.overwrite,
                        command=shlex.join(command))
    print(f"wrote {path} (and figures/ beside it)")
    return 0


def cmd_validate(args) -> int:
    model = _load(args)
    sc = model.scenario
    print(f"{args.scenario}: valid ({len(sc.strategies)} strategies: {', '.join(s.name for s in sc.strategies)})")
    return 0


def cmd_validate_outcomes(args) -> int:
    from sim.outputs import check_new_folder
    from sim.reporting.console import console_table
    from sim.analysis.validation import run_validation
    from sim.reporting.validation_output import write_validation
    _check_positive(args.patients, "--patients")
    _check_seed(args.seed)
    out = check_new_folder(Path(args.out), args.overwrite)
    progress = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    run = run_validation(args.scenario, args.overrides, patients=args.patients, seed=args.seed, targets=args.targets,
                         calibrated=args.calibrated, progress=progress)
    write_validation(run, out, overwrite=args.overwrite)
    print(console_table(run.table))
    print(f"\nwrote {out}/: validation.csv, validation_forest.png, validation_forest.svg, validation_manifest.json")
    return 0


def cmd_pathway(args) -> int:
    from sim.reporting.pathway_figure import FORMATS
    if args.format not in FORMATS:
        raise InputError("unknown figure format", file="command line", field="--format", value=args.format,
                         allowed=", ".join(FORMATS))
    model = _load(args)
    sc = model.scenario
    names = [s.name for s in sc.strategies]
    if args.strategy is not None and args.strategy not in names:
        from sim.inputs.checks import _suggest
        raise InputError(f"no strategy of this name in scenario '{sc.name}'", file="command line",
                         field="--strategy", value=args.strategy, allowed=_suggest(args.strategy, names))
    out = Path(args.out) if args.out else Path("results") / f"{sc.name}_pathway"
    from sim.outputs import check_new_folder, staged_folder
    check_new_folder(out, args.overwrite)
    from sim.model.build import compile_model
    from sim.model.phases import strategy_pathway
    from sim.reporting.pathway_figure import describe, draw
    cm = compile_model(model, capacity=sc.capacity is not None)
    chosen = [k for k, name in enumerate(names) if args.strategy in (None, name)]
    written = []
    with staged_folder(out) as tmp:          # all figures or none: a failed run leaves nothing half-written
        for k in chosen:
            sp = strategy_pathway(cm, k)
            print(describe(sp) + "\n")
            written.append(out / draw(sp, tmp / f"pathway_{sp.name}.{args.format}", args.format).name)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def cmd_events(args) -> int:
    from sim.model.events import EVENTS
    for k, v in EVENTS.items():
        print(f"{k:20s} {v}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"run": cmd_run, "parameters": cmd_parameters, "validate-scenario": cmd_validate, "psa": cmd_psa, "sensitivity": cmd_sensitivity,
                "report": cmd_report,
                "validate": cmd_validate_outcomes,
                "events": cmd_events,
                "pathway": cmd_pathway}
    try:
        return handlers[args.command](args)
    except InputError as e:
        print(f"lnsim: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("lnsim: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
