"""Back-testing routing profiles on a journaled day: what other weights would have done.

``fixgw backtest --state-dir DIR --day YYYYMMDD [--profile NAME] [--weights k=v,...]
[--half-life S]`` replays the day's scorecard inputs (the journal's ``score`` records)
through two scorecards built from the settings the gateway ran with (its ``start``
record): the recorded one, and an alternative with the other weights and half-life. At
every recorded routing decision, among the LPs that were eligible then, it compares the LP
the router chose with the LP the alternative ranks first, and says how the ranking of the
LPs at the end of the day differs.

The modelled outcome: a decision's quantity is given the figures the recorded scorecard
had at that moment for the LP in question (fill rate, price improvement vs mid, markout at
each horizon), once for the LP chosen and once for the alternative's first choice; both
are weighted by the quantity routed. Beside them, the day's actual outcome from the
journal (fill rate of the children, cost vs the arrival mid of the parents, markouts of
the fills). A model, not a replay of the market: an LP that was never asked has no fills
to show, only what the scorecard expected of it.

Both scorecards start from the prior (not from yesterday's figures): the replay of the
recorded weights is therefore not bit-for-bit the live router, and the share of decisions
where it agrees with the router (``replay_agreement``) says how close it came.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from gateway.journal import file_for, journal_files, read_groups, replay_score
from gateway.report import ALL, build_report, journal_dir
from gateway.scorecard import Scorecard, ScorecardError, ScorecardSettings

BACKTEST_PROFILE = "backtest"  # the profile --weights define when --profile is not given


class BacktestError(ValueError):
    """A bad argument or a day the journal cannot back-test (the text says why)."""


def parse_weights(text: str) -> dict[str, float]:
    """``latency=0.6,fill_rate=0.4`` -> {"latency": 0.6, "fill_rate": 0.4}."""
    out: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise BacktestError(f"--weights {part!r}: expected KPI=weight, e.g. latency=0.6,fill_rate=0.4")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise BacktestError(f"--weights {part!r}: {value!r} is not a number") from None
    if not out:
        raise BacktestError("--weights: no weights given")
    return out


def settings_from(rec: dict[str, Any]) -> ScorecardSettings:
    """The scorecard settings a ``start`` record says the gateway ran with."""
    s = rec.get("scorecard") or {}
    base = ScorecardSettings()
    return ScorecardSettings(
        half_life_s=float(s.get("half_life_s", base.half_life_s)),
        horizons_s=tuple(float(h) for h in s.get("horizons_s", base.horizons_s)),
        impact_horizon_s=float(s.get("impact_horizon_s", base.impact_horizon_s)),
        shrinkage_k=float(s.get("shrinkage_k", base.shrinkage_k)),
        normalization=str(s.get("normalization", base.normalization)),
        rejection_penalty=float(s.get("rejection_penalty", base.rejection_penalty)),
        size_buckets=tuple(float(b) for b in s.get("size_buckets", base.size_buckets)),
        prior={**base.prior, **s.get("prior", {})},
        profiles={k: dict(v) for k, v in (s.get("profiles") or base.profiles).items()},
    )


@dataclass
class BacktestResult:
    day: str
    profile: str | None
    weights: dict[str, float] | None
    half_life_s: float
    recorded_half_life_s: float
    decisions: int = 0
    compared: int = 0  # decisions with eligible LPs and a child sent
    agreement: int = 0  # the alternative's first choice is the LP the router chose
    replay_agreement: int = 0  # the replay of the recorded weights chose the same LP
    per_lp: dict[str, dict[str, int]] = field(default_factory=dict)
    ranking: dict[str, dict[str, list[list[Any]]]] = field(default_factory=dict)
    modelled: dict[str, dict[str, float | None]] = field(default_factory=dict)
    actual: dict[str, float | None] = field(default_factory=dict)
    differences: list[dict[str, Any]] = field(default_factory=list)  # decisions where they differ

    def lines(self) -> list[str]:
        """``name=value`` lines, then a table per LP (``fixgw backtest``'s text output)."""
        share = (self.agreement / self.compared) if self.compared else None
        replay = (self.replay_agreement / self.compared) if self.compared else None
        out = [
            f"day={self.day}",
            f"profile={self.profile or '(as recorded)'}",
            f"weights={','.join(f'{k}={v:g}' for k, v in (self.weights or {}).items()) or '(as recorded)'}",
            f"half_life_s={self.half_life_s:g} (recorded {self.recorded_half_life_s:g})",
            f"decisions={self.decisions}",
            f"compared={self.compared}",
            f"agreement={'n/a' if share is None else f'{share:.3f}'}",
            f"changed_decisions={self.compared - self.agreement}",
            f"replay_agreement={'n/a' if replay is None else f'{replay:.3f}'}",
        ]
        for name, values in self.modelled.items():
            for k, v in values.items():
                out.append(f"modelled_{name}_{k}={'n/a' if v is None else f'{v:.4g}'}")
        for k, v in self.actual.items():
            out.append(f"actual_{k}={'n/a' if v is None else f'{v:.4g}'}")
        out.append("")
        out.append(f"{'LP':<10}{'chosen':>10}{'alt first':>12}")
        for lp, counts in sorted(self.per_lp.items()):
            out.append(f"{lp:<10}{counts['chosen']:>10}{counts['alternative_first']:>12}")
        for symbol, ranks in sorted(self.ranking.items()):
            rec = " > ".join(f"{lp} {score:.1f}" for lp, score in ranks["recorded"])
            alt = " > ".join(f"{lp} {score:.1f}" for lp, score in ranks["alternative"])
            out.append(f"ranking {symbol} at the end of the day: recorded {rec}; alternative {alt}")
        return out

    def to_json(self) -> bytes:
        return orjson.dumps(dataclasses.asdict(self), option=orjson.OPT_INDENT_2)


_MODEL_KPIS = ("fill_rate", "price_improvement_mid")


def backtest(
    state_dir: str | Path,
    day: str,
    *,
    profile: str | None = None,
    weights: dict[str, float] | None = None,
    half_life_s: float | None = None,
    keep: int = 200,
) -> BacktestResult:
    """Replay ``day`` of the journal under ``state_dir`` with other weights (see the module)."""
    directory = journal_dir(state_dir)
    path = file_for(directory, day)
    if not path.exists():
        days = ", ".join(p.name[8:16] for p in journal_files(directory)) or "none"
        raise BacktestError(f"no journal for {day} in {directory}; days there: {days}")
    records = [r for g in read_groups(path) for r in g.records]
    start = next((r for r in records if r["k"] == "start"), None)
    if start is None:
        raise BacktestError(f"{path.name} has no start record: the scorecard settings are unknown")
    recorded = settings_from(start)
    alt_settings = settings_from(start)
    if half_life_s is not None:
        if half_life_s <= 0:
            raise BacktestError(f"--half-life {half_life_s:g}: must be > 0 seconds")
        alt_settings.half_life_s = half_life_s
    if weights is not None and profile is None:
        profile = BACKTEST_PROFILE
    if profile is not None and weights is None and profile not in alt_settings.profiles:
        raise BacktestError(
            f"--profile {profile!r}: unknown; the day's profiles: {', '.join(sorted(alt_settings.profiles))}"
        )
    base = Scorecard(recorded)
    try:
        alt = Scorecard(alt_settings)
        if weights is not None:
            assert profile is not None
            alt.set_weights(profile, weights)
    except ScorecardError as exc:
        raise BacktestError(f"--weights: {exc}") from None
    result = BacktestResult(
        day,
        profile,
        dict(weights) if weights is not None else None,
        alt_settings.half_life_s,
        recorded.half_life_s,
    )
    horizons = recorded.horizons_s
    model_names = (*_MODEL_KPIS, *(f"market_impact_{h:g}s" for h in horizons))
    sums = {"chosen": dict.fromkeys(model_names, 0.0), "alternative": dict.fromkeys(model_names, 0.0)}
    model_qty = 0.0
    default_profile = str(start.get("router", {}).get("default_profile", "best_price"))
    last_t = 0.0
    for rec in records:
        k = rec["k"]
        last_t = max(last_t, rec.get("t", 0.0))
        if k == "score":
            replay_score(base, rec)
            replay_score(alt, rec)
        elif k == "admin" and rec.get("what") == "weights":
            try:
                base.set_weights(rec["profile"], rec["weights"])
                if rec["profile"] != profile:
                    alt.set_weights(rec["profile"], rec["weights"])
            except ScorecardError:
                pass
        elif k == "decision":
            result.decisions += 1
            # the LPs the router could have chosen: eligible, and not the one whose child for
            # this order just came back short (the router sends the remainder elsewhere)
            eligible = [
                c[0] for c in rec["candidates"] if c[1] and not str(c[2]).startswith("came back short")
            ]
            children = rec["children"]
            if not eligible or not children:
                continue
            chosen = children[0][0]
            if chosen not in eligible:
                eligible.append(chosen)
            t = rec["t"]
            symbol = rec["symbol"]
            rec_profile = rec.get("profile") or default_profile
            if rec_profile not in base.settings.profiles:
                rec_profile = default_profile
            alt_profile = profile or rec_profile
            qty, typical = rec.get("qty"), rec.get("typical")
            bucket = base.bucket(qty, typical) if qty and typical else None
            alt_scores = alt.scores(eligible, symbol, alt_profile, t, bucket=bucket)
            alt_first = min(eligible, key=lambda lp: (-alt_scores[lp], lp))
            base_scores = base.scores(eligible, symbol, rec_profile, t, bucket=bucket)
            base_first = min(eligible, key=lambda lp: (-base_scores[lp], lp))
            result.compared += 1
            result.agreement += alt_first == chosen
            result.replay_agreement += base_first == chosen
            for lp, role in ((chosen, "chosen"), (alt_first, "alternative_first")):
                result.per_lp.setdefault(lp, {"chosen": 0, "alternative_first": 0})[role] += 1
            routed = float(sum(c[1] for c in children)) or 1.0
            model_qty += routed
            for name, lp in (("chosen", chosen), ("alternative", alt_first)):
                vec = base.kpis(lp, symbol, bucket, t)
                for kpi in model_names:
                    sums[name][kpi] += routed * base.kpi_value(vec, kpi)
            if alt_first != chosen and len(result.differences) < keep:
                result.differences.append(
                    {
                        "t": t,
                        "order_id": rec["order_id"],
                        "symbol": symbol,
                        "chosen": chosen,
                        "alternative": alt_first,
                        "recorded_scores": {c[0]: c[3] for c in rec["candidates"] if c[1]},
                        "alternative_scores": {lp: round(v, 3) for lp, v in alt_scores.items()},
                    }
                )
    for name, values in sums.items():
        result.modelled[name] = {
            ("cost_vs_mid_bps" if kpi == "price_improvement_mid" else kpi): (
                (-v if kpi == "price_improvement_mid" else v) / model_qty if model_qty else None
            )
            for kpi, v in values.items()
        }
    symbols = sorted({r["symbol"] for r in records if r["k"] == "decision"})
    lps = list(start.get("lps") or sorted(result.per_lp))
    ranking_profile = profile or default_profile
    for symbol in symbols:
        rec_scores = base.scores(lps, symbol, default_profile, last_t)
        alt_scores = alt.scores(lps, symbol, ranking_profile, last_t)
        result.ranking[symbol] = {
            "recorded": [[lp, rec_scores[lp]] for lp in sorted(lps, key=lambda x: (-rec_scores[x], x))],
            "alternative": [[lp, alt_scores[lp]] for lp in sorted(lps, key=lambda x: (-alt_scores[x], x))],
        }
    result.actual = _actual(records, start, horizons)
    return result


def _actual(
    records: list[dict[str, Any]], start: dict[str, Any], horizons: tuple[float, ...]
) -> dict[str, Any]:
    """The day as it happened: fill rate, cost vs arrival, markouts (all LPs together)."""
    report = build_report(records)
    rows = [r for r in report.rows() if r["symbol"] == ALL]
    ordered = sum(r["ordered_qty"] for r in rows)
    filled = sum(r["filled_qty"] for r in rows)
    out: dict[str, Any] = {"fill_rate": filled / ordered if ordered else None}
    scales = {i["symbol"]: i["price_scale"] for i in start.get("instruments", [])}
    last: dict[str, dict[str, Any]] = {}
    for rec in records:
        if rec["k"] == "parent":
            last[rec["order_id"]] = rec
    cost = weight = 0.0
    for p in last.values():
        arrival, cum = p.get("arrival_mid"), p.get("cum_qty")
        scale = scales.get(p["symbol"])
        if not arrival or not cum or not scale:
            continue
        avg = p["notional"] / cum / scale
        side = 1 if p["side"] == "1" else -1
        cost += cum * side * (avg - arrival) / arrival * 1e4
        weight += cum
    out["cost_vs_arrival_bps"] = cost / weight if weight else None
    for h in horizons:
        key = f"markout_{h:g}s_bps"
        q = sum(r["filled_qty"] for r in rows if r[key] is not None)
        out[f"market_impact_{h:g}s"] = (
            sum(r[key] * r["filled_qty"] for r in rows if r[key] is not None) / q if q else None
        )
    return out


def _command(args: Any) -> int:
    import sys

    try:
        weights = parse_weights(args.weights) if args.weights else None
        result = backtest(
            args.state_dir, args.day, profile=args.profile, weights=weights, half_life_s=args.half_life
        )
    except BacktestError as exc:
        print(f"fixgw backtest: {exc}", file=sys.stderr)
        return 2
    data = result.to_json() if args.format == "json" else ("\n".join(result.lines()) + "\n").encode()
    if args.out:
        Path(args.out).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
    return 0


def add_parser(commands: Any) -> None:
    """``fixgw backtest``."""
    p = commands.add_parser("backtest", help="replay a journaled day with other profile weights / half-life")
    p.add_argument(
        "--state-dir", required=True, metavar="DIR", help="the gateway's StateDir (or its journal)"
    )
    p.add_argument("--day", required=True, metavar="YYYYMMDD", help="the UTC day to replay")
    p.add_argument("--profile", metavar="NAME", help="the profile to use for every decision")
    p.add_argument(
        "--weights", metavar="K=V,...", help=f"weights of --profile (default profile {BACKTEST_PROFILE!r})"
    )
    p.add_argument("--half-life", type=float, metavar="S", help="the KPIs' half-life in seconds")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--out", metavar="PATH", help="file to write (default: standard output)")
    p.set_defaults(handler=_command)
