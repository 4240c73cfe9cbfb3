"""The ``bayescausal`` command: run and recommend studies, read the run registry, run the demo.

    bayescausal run study.yaml [--registry PATH] [--method cem] [--out report.html] [--note TEXT]
    bayescausal recommend study.yaml
    bayescausal registry list [--study NAME] | show RUN | diff RUN_A RUN_B
    bayescausal demo [FOLDER]

Bad configs and data exit with status 2 and the error's message (which names the field); the failed run is in the
registry all the same.
"""

from __future__ import annotations

import json
import sys

import click

from .errors import BayesCausalError

_REGISTRY = click.option("--registry", "registry", type=click.Path(dir_okay=False), default=None,
                         help="Registry file (default: $BAYESCAUSAL_REGISTRY, else ./.bayescausal/registry.sqlite).")


def _fail(exc: Exception) -> None:
    click.secho(f"error: {exc}", fg="red", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """Bayesian causal inference studies from config files."""


@cli.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@_REGISTRY
@click.option("--method", default=None, help="Override the config's method (cem, aipw, iv, causal_impact, panel_fe).")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default=None, help="Override data.engine.")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Report path (HTML).")
@click.option("--note", default=None, help="A note stored with the run in the registry.")
@click.option("--progress/--no-progress", default=True, help="Progress bars (stages and sampler).")
def run(config, registry, method, engine, out, note, progress):
    """Run the study in CONFIG: build the modelling table, fit, check, write the report."""
    from .study.config import load_study
    from .study.runner import run_study

    source = config
    if engine:
        try:
            cfg = load_study(config)
        except BayesCausalError:
            cfg = None
        if cfg is not None:
            source = cfg.model_copy(update={"data": cfg.data.model_copy(update={"engine": engine})})
    try:
        res = run_study(source, registry=registry, method=method, out=out, note=note, progress=progress)
    except BayesCausalError as exc:
        _fail(exc)
    click.echo("")
    click.echo(res.recommendation.text())
    click.echo("")
    click.echo(res.result.report())
    click.echo("")
    click.echo(f"Run {res.run_id} recorded in {res.registry.path}")
    click.echo(f"Report: {res.report_path}")


@cli.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--data/--no-data", default=False, help="Also build the modelling table (group sizes in the reasons).")
def recommend(config, data):
    """Recommend a method for the study in CONFIG, with the reasons."""
    from .study import build_table, load_study
    from .study import recommend as rec

    try:
        cfg = load_study(config)
        table = build_table(cfg) if data else None
        click.echo(rec(cfg, table).text())
    except BayesCausalError as exc:
        _fail(exc)


@cli.group()
def registry():
    """Read the append-only run registry."""


@registry.command("list")
@_REGISTRY
@click.option("--study", default=None, help="Only this study's runs.")
def registry_list(registry, study):
    """One line per run: id, study, status, method, estimate, failed checks."""
    from .study.registry import Registry

    reg = Registry(registry)
    runs = reg.runs(study)
    if not runs:
        click.echo(f"no runs in {reg.path}")
        return
    click.echo(f"{'run':<26} {'study':<20} {'status':<9} {'method':<14} {'estimate':<28} failed checks")
    for r in runs:
        status = r.status if r.status != "started" else "started*"
        click.echo(f"{r.run_id:<26} {r.study[:20]:<20} {status:<9} {(r.method or '')[:14]:<14} "
                   f"{(r.estimate or '')[:28]:<28} {r.failed_checks}")
    if any(r.status == "started" for r in runs):
        click.echo("* no end recorded: the run was killed or is still running")


@registry.command("show")
@_REGISTRY
@click.argument("run_id")
def registry_show(registry, run_id):
    """Everything recorded about one run (a unique prefix of its id is enough), as JSON."""
    from .study.registry import Registry

    try:
        click.echo(json.dumps(Registry(registry).run(run_id), indent=2, default=str))
    except BayesCausalError as exc:
        _fail(exc)


@registry.command("diff")
@_REGISTRY
@click.argument("run_a")
@click.argument("run_b")
def registry_diff(registry, run_a, run_b):
    """What differs between two runs: config fields, data fingerprint, method, estimate, check verdicts."""
    from .study.registry import Registry, diff_runs

    reg = Registry(registry)
    try:
        a, b = reg.run(run_a), reg.run(run_b)
    except BayesCausalError as exc:
        _fail(exc)
    rows = diff_runs(a, b)
    if not rows:
        click.echo("the two runs agree on every recorded field")
    for key, va, vb in rows:
        click.echo(f"{key}:\n  - {va}\n  + {vb}")


@registry.command("note")
@_REGISTRY
@click.argument("run_id")
@click.argument("text")
def registry_note(registry, run_id, text):
    """Append a note to a run (appended as a new event: nothing is changed)."""
    from .study.registry import Registry

    reg = Registry(registry)
    try:
        full = reg.run(run_id)["run_id"]
        reg.note(full, text)
    except BayesCausalError as exc:
        _fail(exc)
    click.echo(f"note appended to {full}")


@cli.command()
@click.argument("folder", required=False, default="bayescausal-demo")
@click.option("--impact/--no-impact", default=True, help="Also run the regional price-change impact demo.")
def demo(folder, impact):
    """The demo: the shipped study on shipped event data, and the regional price-change impact report."""
    from .demo import main as demo_main

    sys.exit(demo_main([folder] + ([] if impact else ["--no-impact"])))


def main(argv=None) -> int:
    """Console entry point (``bayescausal``)."""
    try:
        cli.main(args=argv, prog_name="bayescausal", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
