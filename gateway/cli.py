"""Command line: `fixgw run --config PATH` and `fixgw check-config PATH`.

A minimal first version: it loads and checks settings; starting the gateway is delegated to
`gateway.app.run(settings) -> int`, written separately. A bad config file exits with
status 2 and one line naming the file and key, before anything is started.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway.config import ConfigError, GatewaySettings, load_config

EXIT_CONFIG_ERROR = 2


def _load(path: str, state_dir: str | None = None) -> GatewaySettings | None:
    try:
        return load_config(path, state_dir=state_dir)
    except ConfigError as exc:
        print(f"fixgw: config error: {exc}", file=sys.stderr)
        return None


def _check_config(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    if settings is None:
        return EXIT_CONFIG_ERROR
    print(settings.summary())
    return 0


def _run(args: argparse.Namespace) -> int:
    settings = _load(args.config, args.state_dir)
    if settings is None:
        return EXIT_CONFIG_ERROR
    from gateway.app import AppConfigError, run
    from gateway.risk import RiskConfigError
    from gateway.scorecard import ScorecardError

    try:
        return run(settings, status_every=args.status_every)
    except (AppConfigError, RiskConfigError, ScorecardError) as exc:
        print(f"fixgw: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR


def _sim_lp(args: argparse.Namespace) -> int:
    from simulators.lp import load_profile, run
    from simulators.profile import ProfileError

    try:
        profile = load_profile(args.config)
    except ProfileError as exc:
        print(f"fixgw: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    return run(profile)


def _sim_oms(args: argparse.Namespace) -> int:
    from simulators.oms import load_oms_profile, run
    from simulators.profile import ProfileError

    try:
        profile = load_oms_profile(args.config)
    except ProfileError as exc:
        print(f"fixgw: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    return run(profile, orders=args.orders, rate=args.rate, port=args.port)


def _bench(args: argparse.Namespace) -> int:
    """`fixgw bench`: the harness lives in benchmarks/ of the checkout, beside this package."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    if not (root / "benchmarks" / "harness.py").is_file():
        print(f"fixgw: bench: no benchmarks/harness.py under {root}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from benchmarks.harness import main as bench_main

    argv = ["--quick"] if args.quick else []
    argv += ["--only", args.only] if args.only else []
    argv += ["--no-profile"] if args.no_profile else []
    argv += ["--no-pin"] if args.no_pin else []
    argv += ["--out", args.out] if args.out else []
    argv += ["--wait-quiet", str(args.wait_quiet)] if args.wait_quiet else []
    argv += ["--native"] if args.native else []
    argv += ["--profile-dir", args.profile_dir] if args.profile_dir else []
    return bench_main(argv)


def _scenario(args: argparse.Namespace) -> int:
    """`fixgw scenario acme | compare` (gateway.scenario, imported only when asked for)."""
    from gateway.scenario import run_cli

    return run_cli(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fixgw", description="FIX gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start the gateway")
    run.add_argument("--config", required=True, metavar="PATH", help="settings file (TOML)")
    run.add_argument("--state-dir", metavar="DIR", help="use DIR instead of [gateway] StateDir")
    run.add_argument(
        "--status-every",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="print a status line this often (0 = never)",
    )
    run.set_defaults(handler=_run)

    check = commands.add_parser("check-config", help="load a settings file and summarise it")
    check.add_argument("config", metavar="PATH", help="settings file (TOML)")
    check.set_defaults(handler=_check_config)

    sim_lp = commands.add_parser("sim-lp", help="run the LP simulator (until Ctrl-C)")
    sim_lp.add_argument("--config", required=True, metavar="PATH", help="LP profile (TOML)")
    sim_lp.set_defaults(handler=_sim_lp)

    sim_oms = commands.add_parser("sim-oms", help="run the OMS simulator; exit 1 on any violation")
    sim_oms.add_argument("--config", required=True, metavar="PATH", help="OMS profile (TOML)")
    sim_oms.add_argument("--orders", type=int, metavar="N", help="orders to send")
    sim_oms.add_argument("--rate", type=float, metavar="R", help="orders per second (0: flat out)")
    sim_oms.add_argument("--port", type=int, metavar="P", help="the gateway's port")
    sim_oms.set_defaults(handler=_sim_oms)

    bench = commands.add_parser(
        "bench", help="measure the gateway against a direct run and a QuickFIX relay (benchmarks/)"
    )
    bench.add_argument("--quick", action="store_true", help="the short version (under five minutes)")
    bench.add_argument("--only", metavar="NAMES", help="comma-separated runs, e.g. direct,gateway")
    bench.add_argument("--no-profile", action="store_true", help="skip the py-spy profile of the gateway")
    bench.add_argument("--no-pin", action="store_true", help="do not pin the processes to cores")
    bench.add_argument("--out", metavar="PATH", help="JSON results (default benchmarks/results/)")
    bench.add_argument(
        "--wait-quiet", type=float, metavar="SECONDS", help="wait for an idle machine before each run"
    )
    bench.add_argument("--native", action="store_true", help="py-spy profiles with C frames too")
    bench.add_argument("--profile-dir", metavar="DIR", help="keep py-spy's raw (collapsed) output here")
    bench.set_defaults(handler=_bench)
    from gateway.backtest import add_parser as add_backtest
    from gateway.report import add_parser as add_report

    add_report(commands)
    add_backtest(commands)
    from gateway.demo import add_parser as add_demo

    add_demo(commands)

    scenario = commands.add_parser(
        "scenario", help="routing scenarios: LP simulators, the gateway and an OMS in one process"
    )
    scenario.add_argument(
        "kind",
        choices=("acme", "compare"),
        help="acme: the SPEC's worked ACME block; compare: static vs scorecard routing, per profile",
    )
    scenario.add_argument(
        "--config", metavar="PATH", help="scenario file (default config/scenarios/KIND.toml)"
    )
    scenario.add_argument("--seed", type=int, help="seed (default: the file's)")
    scenario.add_argument("--parents", type=int, metavar="N", help="compare: parents in the flow")
    scenario.set_defaults(handler=_scenario)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
