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


def _load(path: str) -> GatewaySettings | None:
    try:
        return load_config(path)
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
    settings = _load(args.config)
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fixgw", description="FIX gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start the gateway")
    run.add_argument("--config", required=True, metavar="PATH", help="settings file (TOML)")
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
    from gateway.demo import add_parser as add_demo

    add_demo(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
