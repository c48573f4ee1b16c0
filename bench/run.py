"""`make bench`: every figure against freshly started appliances, each with its baseline from this run;
a summary table on stdout and every number in a JSON file.

    python -m bench.run [--smoke] [--json PATH] [--only NAME[,NAME...]]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import docker

from bench import (
    desktop,
    fanout,
    files,
    measure,
    memory,
    new_project,
    proxy,
    resume,
    templates,
    terminal,
    warm_turn,
)
from bench.measure import Figure, machine, table, write_json
from tests.stack import ROOT

# What --only selects from.
BENCHMARKS = (
    "new_project",
    "warm_turn",
    "desktop",
    "memory",
    "resume",
    "proxy",
    "fanout",
    "files",
    "terminal",
    "templates",
)


def selection(value: str) -> set[str]:
    names = {name.strip() for name in value.split(",") if name.strip()}
    if unknown := names - set(BENCHMARKS):
        raise argparse.ArgumentTypeError(
            f"no benchmark {', '.join(sorted(unknown))}; pick from {', '.join(BENCHMARKS)}"
        )
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: that every figure still runs")
    parser.add_argument(
        "--json", type=Path, help="where to write the results (default .build/bench/<time>.json)"
    )
    parser.add_argument(
        "--pool",
        type=int,
        default=None,
        help="the warm pool's size (default: the burst's); 0: no pool anywhere",
    )
    parser.add_argument(
        "--only",
        type=selection,
        default=set(BENCHMARKS),
        metavar="NAME[,NAME...]",
        help=f"run only these benchmarks ({', '.join(BENCHMARKS)})",
    )
    args = parser.parse_args(argv)
    only = args.only
    n, burst_n = (1, 2) if args.smoke else (10, 10)
    engine = docker.from_env()
    started = time.monotonic()
    figures: list[Figure] = []

    def progress(message: str) -> None:
        print(f"==> [{time.monotonic() - started:5.0f} s] {message}", flush=True)

    pool = burst_n if args.pool is None else args.pool
    if only & {"new_project", "warm_turn", "desktop", "memory"}:
        progress(f"new projects with a warm pool of {pool}, warm turns, desktops and idle memory")
        with measure.appliance(engine, RCODER_WARM_POOL_SIZE=str(pool)) as appliance:
            if pool and "new_project" in only:
                figures.append(new_project.run(appliance, n, burst_n, f"warm pool of {pool}", pool_size=pool))
            if "warm_turn" in only:
                figures.append(warm_turn.run(appliance, engine, 3 if args.smoke else 30))
            if "desktop" in only:
                figures.append(desktop.run(appliance, 1 if args.smoke else 3))
            if "memory" in only:
                figures.append(memory.run(appliance, engine))
    if "new_project" in only:
        progress("new projects on an appliance without a warm pool")
        with measure.appliance(engine, RCODER_WARM_POOL_SIZE="0") as appliance:
            figures.append(new_project.run(appliance, n, burst_n, "no warm pool"))
    if "resume" in only:
        progress("resuming idle projects")
        with measure.appliance(engine, RCODER_WARM_POOL_SIZE="0", **resume.SETTINGS) as appliance:
            figures.append(resume.run(appliance, engine, 1 if args.smoke else 5))
    if "proxy" in only:
        progress("the proxy")
        figures.append(proxy.run(seconds=1 if args.smoke else 10))
    if "fanout" in only:
        progress("SSE fan-out")
        figures.append(fanout.run(*((20, 50) if args.smoke else (1000, 5000))))
    if only & {"files", "terminal"}:
        progress("the files API and the terminal")
        with measure.appliance(engine, **files.SETTINGS) as appliance:
            if "files" in only:
                figures.extend(files.run(appliance, engine, files.SMOKE if args.smoke else files.FULL))
            if "terminal" in only:
                figures.append(terminal.run(appliance, engine, 30 if args.smoke else 500))

    if "templates" in only:
        progress("new projects on a template, with its pool and without")
        figures.append(templates.run(engine, 1 if args.smoke else 10))

    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "smoke": args.smoke,
        "figures": {figure.name: figure.data for figure in figures},
    }
    path = args.json or ROOT / ".build" / "bench" / f"{results['date'].replace(':', '')}.json"
    write_json(path, results)
    print()
    print(
        f"RCoder benchmarks, {results['date']}, {results['machine']['cpus']} CPUs, {results['machine']['memory_gib']} GiB"
    )
    print(table(figures))
    print(f"\nresults: {path}")


if __name__ == "__main__":
    sys.exit(main())
