"""The LP scorecard: execution-quality KPIs per LP as time-decayed EWMAs, and composite scores.

Every child-order event updates the scorecard synchronously, in O(1): sent (the benchmark
prices are taken: far touch and mid of the consolidated quote), first answer (ack latency,
last-look hold time), fills (price improvement vs far touch and vs mid, effective spread,
fill latency), the end of the child (fill rate, rejection rate) and, later, markouts that
mature at each horizon against the consolidated mid (realized spread and market impact,
so that effective = realized + 2 x impact).

Keys: the LP, (LP, symbol), and (LP, symbol, size bucket). A narrower key is shrunk toward
the wider one while it has few observations, weight n / (n + k); the LP-wide value is shrunk
toward a configurable prior the same way, so an LP with no data gets the prior, not 0 and
not 100. Old observations fade with a half-life: the weight n of a key decays with time.

Composite score (0-100) per profile: each KPI is normalised across the LPs eligible for the
decision (min-max, or z-score through the normal CDF), "lower is better" KPIs inverted,
weighted (weights sum to 1), and multiplied by (1 - penalty x rejection rate).

Pure and synchronous: no I/O, no clock (time is passed in), no asyncio.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

# --- KPIs -------------------------------------------------------------------------------
PI: Final = 0  # price improvement vs the far touch at send time, bps (higher is better)
PI_MID: Final = 1  # vs the mid at send time, bps (higher is better)
EFF_SPREAD: Final = 2  # effective spread, bps (lower is better)
FILL_RATE: Final = 3  # filled qty / ordered qty of children (higher)
REJECT_RATE: Final = 4  # rejected children / children (lower)
ACK_LAT: Final = 5  # child sent -> first ExecutionReport, ms (lower)
FILL_LAT: Final = 6  # child sent -> first fill, ms (lower)
HOLD: Final = 7  # child sent -> fill or reject, for last-look LPs, ms (lower)
_BASE_KPIS: Final = 8

KPI_NAMES: Final = (
    "price_improvement",
    "price_improvement_mid",
    "effective_spread",
    "fill_rate",
    "rejection_rate",
    "ack_latency",
    "fill_latency",
    "hold_time",
)
LOWER_IS_BETTER: Final = frozenset(
    {
        "effective_spread",
        "rejection_rate",
        "ack_latency",
        "fill_latency",
        "hold_time",
        "market_impact",
        "realized_spread",
        "latency",
    }
)

#: The product note's profiles (SPEC.md section 1).
DEFAULT_PROFILES: Final[dict[str, dict[str, float]]] = {
    "hft": {"latency": 0.60, "fill_rate": 0.15, "price_improvement": 0.10, "market_impact": 0.15},
    "block": {"latency": 0.10, "fill_rate": 0.40, "price_improvement": 0.20, "market_impact": 0.30},
    "best_price": {"latency": 0.20, "fill_rate": 0.20, "price_improvement": 0.50, "market_impact": 0.10},
}

#: What an LP with no data is assumed to be.
DEFAULT_PRIOR: Final[dict[str, float]] = {
    "price_improvement": 0.0,
    "price_improvement_mid": 0.0,
    "effective_spread": 0.0,
    "fill_rate": 0.8,
    "rejection_rate": 0.05,
    "ack_latency": 50.0,
    "fill_latency": 50.0,
    "hold_time": 0.0,
    "market_impact": 0.0,
    "realized_spread": 0.0,
}


class ScorecardError(ValueError):
    """Bad settings or weights (the text says which key and what is allowed)."""


@dataclass
class ScorecardSettings:
    half_life_s: float = 300.0
    horizons_s: tuple[float, ...] = (1.0, 5.0, 30.0)
    impact_horizon_s: float = 5.0  # the markout that "market_impact" means in profiles
    shrinkage_k: float = 20.0
    normalization: str = "minmax"  # or "zscore"
    rejection_penalty: float = 1.0
    size_buckets: tuple[float, ...] = (0.5, 2.0)  # child qty / typical size: <0.5, <2, larger
    prior: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PRIOR))
    profiles: dict[str, dict[str, float]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_PROFILES.items()}
    )

    def __post_init__(self) -> None:
        if self.half_life_s <= 0:
            raise ScorecardError(f"HalfLife: {self.half_life_s} must be > 0 seconds")
        if not self.horizons_s or any(h <= 0 for h in self.horizons_s):
            raise ScorecardError("Horizons: positive numbers of seconds, e.g. [1, 5, 30]")
        if self.impact_horizon_s not in self.horizons_s:
            raise ScorecardError(
                f"ImpactHorizon: {self.impact_horizon_s} must be one of Horizons {list(self.horizons_s)}"
            )
        if self.shrinkage_k < 0:
            raise ScorecardError("ShrinkageK: must be >= 0")
        if self.normalization not in ("minmax", "zscore"):
            raise ScorecardError(f"Normalization: {self.normalization!r}; allowed: minmax, zscore")
        for name, weights in self.profiles.items():
            check_weights(name, weights, self.kpi_names())

    def kpi_names(self) -> tuple[str, ...]:
        names = list(KPI_NAMES)
        for h in self.horizons_s:
            names += [f"realized_spread_{h:g}s", f"market_impact_{h:g}s"]
        return (*names, "latency", "market_impact", "realized_spread")


def check_weights(profile: str, weights: Mapping[str, float], known: Iterable[str]) -> None:
    """Weights are non-negative, name known KPIs and sum to 1."""
    known_set = set(known)
    if not weights:
        raise ScorecardError(f"profile {profile}: no weights")
    for kpi, w in weights.items():
        if kpi not in known_set:
            raise ScorecardError(
                f"profile {profile}: unknown KPI {kpi!r}; allowed: {', '.join(sorted(known_set))}"
            )
        if not isinstance(w, int | float) or isinstance(w, bool) or not math.isfinite(w) or w < 0:
            raise ScorecardError(
                f"profile {profile}: weight of {kpi} must be a non-negative number, got {w!r}"
            )
    total = sum(weights.values())
    if abs(total - 1.0) > 1e-6:
        raise ScorecardError(f"profile {profile}: weights sum to {total:.6g}; they must sum to 1")


class Stats:
    """Time-decayed EWMAs of every KPI for one key: mean, effective weight, last update."""

    __slots__ = ("mean", "n", "t", "version")

    def __init__(self, size: int) -> None:
        self.mean = [0.0] * size
        self.n = [0.0] * size
        self.t = [0.0] * size
        self.version = 0

    def weight(self, k: int, now: float, decay_per_s: float) -> float:
        n = self.n[k]
        if n == 0.0:
            return 0.0
        return n * math.exp(-decay_per_s * (now - self.t[k])) if now > self.t[k] else n


@dataclass(slots=True)
class _Child:
    lp: str
    symbol: str
    bucket: int
    side: int  # +1 buy, -1 sell
    qty: float
    sent: float
    mid: float | None
    far: float | None
    answered: float | None = None
    filled: float = 0.0
    fill_notional: float = 0.0
    last_look: bool = False


class Scorecard:
    """KPIs per LP, (LP, symbol) and (LP, symbol, size bucket); composite scores per profile."""

    def __init__(self, settings: ScorecardSettings | None = None) -> None:
        self.settings = s = settings or ScorecardSettings()
        self.size = _BASE_KPIS + 2 * len(s.horizons_s)
        self.decay = math.log(2) / s.half_life_s
        self.k = s.shrinkage_k
        self._stats: dict[Any, Stats] = {}
        self._children: dict[bytes, _Child] = {}
        self._markouts: list[tuple[float, int, bytes, str, str, int, int, float, float, float]] = []
        self._markout_seq = 0
        self.lps: list[str] = []
        self.updates = 0
        self._prior = self._prior_vector()
        self._impact_index = _BASE_KPIS + 2 * s.horizons_s.index(s.impact_horizon_s) + 1

    # --- settings ---------------------------------------------------------------------------
    def _prior_vector(self) -> list[float]:
        p = self.settings.prior
        vec = [p.get(name, DEFAULT_PRIOR.get(name, 0.0)) for name in KPI_NAMES]
        for _ in self.settings.horizons_s:
            vec += [p.get("realized_spread", 0.0), p.get("market_impact", 0.0)]
        return vec

    def set_weights(self, profile: str, weights: Mapping[str, float]) -> None:
        """Replace a profile's weights at run time (validated; nothing changes on error)."""
        clean = {k: float(v) for k, v in weights.items() if v}
        check_weights(profile, weights, self.settings.kpi_names())
        self.settings.profiles[profile] = clean

    def add_lp(self, lp: str) -> None:
        if lp not in self.lps:
            self.lps.append(lp)
            self._stat(lp)

    # --- keys -----------------------------------------------------------------------------
    def _stat(self, key: Any) -> Stats:
        st = self._stats.get(key)
        if st is None:
            st = self._stats[key] = Stats(self.size)
        return st

    def bucket(self, qty: float, typical: float) -> int:
        if typical <= 0:
            return 0
        r = qty / typical
        for i, edge in enumerate(self.settings.size_buckets):
            if r < edge:
                return i
        return len(self.settings.size_buckets)

    def _update(self, lp: str, symbol: str, bucket: int, k: int, x: float, now: float) -> None:
        """One observation of KPI k at the three keys."""
        decay = self.decay
        for key in (lp, (lp, symbol), (lp, symbol, bucket)):
            st = self._stats.get(key)
            if st is None:
                st = self._stats[key] = Stats(self.size)
            dt = now - st.t[k]
            n = st.n[k] * math.exp(-decay * dt) if dt > 0 and st.n[k] else st.n[k]
            n += 1.0
            st.mean[k] += (x - st.mean[k]) / n
            st.n[k] = n
            st.t[k] = now
            st.version += 1
        self.updates += 1

    # --- events ---------------------------------------------------------------------------------
    def on_sent(
        self,
        child_id: bytes,
        lp: str,
        symbol: str,
        side: int,
        qty: float,
        now: float,
        *,
        bid: float | None = None,
        ask: float | None = None,
        typical: float = 0.0,
        last_look: bool = False,
    ) -> None:
        """A child order left for ``lp``; the consolidated quote now is its benchmark."""
        mid = (bid + ask) / 2 if bid is not None and ask is not None else None
        far = ask if side > 0 else bid
        self._children[child_id] = _Child(
            lp,
            symbol,
            self.bucket(qty, typical),
            1 if side > 0 else -1,
            qty,
            now,
            mid,
            far,
            last_look=last_look,
        )
        if lp not in self.lps:
            self.add_lp(lp)

    def on_answer(self, child_id: bytes, now: float) -> None:
        """The first ExecutionReport (ack or fill) for the child: ack latency."""
        c = self._children.get(child_id)
        if c is None or c.answered is not None:
            return
        c.answered = now
        self._update(c.lp, c.symbol, c.bucket, ACK_LAT, (now - c.sent) * 1000.0, now)

    def on_fill(self, child_id: bytes, qty: float, price: float, now: float) -> None:
        c = self._children.get(child_id)
        if c is None or qty <= 0:
            return
        if c.answered is None:
            self.on_answer(child_id, now)
        lp, sym, b, s = c.lp, c.symbol, c.bucket, c.side
        if c.filled == 0.0:
            self._update(lp, sym, b, FILL_LAT, (now - c.sent) * 1000.0, now)
            if c.last_look:
                self._update(lp, sym, b, HOLD, (now - c.sent) * 1000.0, now)
        c.filled += qty
        c.fill_notional += qty * price
        if c.far:
            self._update(lp, sym, b, PI, s * (c.far - price) / c.far * 1e4, now)
        mid = c.mid
        if mid:
            self._update(lp, sym, b, PI_MID, s * (mid - price) / mid * 1e4, now)
            self._update(lp, sym, b, EFF_SPREAD, 2 * s * (price - mid) / mid * 1e4, now)
            for i, h in enumerate(self.settings.horizons_s):
                self._markout_seq += 1
                heapq.heappush(
                    self._markouts, (now + h, self._markout_seq, child_id, lp, sym, b, i, s, price, mid)
                )

    def on_done(self, child_id: bytes, rejected: bool, now: float) -> None:
        """The child ended: fill rate and rejection rate (and hold time of a last-look reject)."""
        c = self._children.pop(child_id, None)
        if c is None:
            return
        lp, sym, b = c.lp, c.symbol, c.bucket
        if rejected and c.last_look:
            self._update(lp, sym, b, HOLD, (now - c.sent) * 1000.0, now)
        self._update(lp, sym, b, REJECT_RATE, 1.0 if rejected else 0.0, now)
        self._update(lp, sym, b, FILL_RATE, min(1.0, c.filled / c.qty) if c.qty > 0 else 0.0, now)

    # --- markouts ----------------------------------------------------------------------------
    def next_markout(self) -> float | None:
        return self._markouts[0][0] if self._markouts else None

    def mature(self, now: float, mid_of: Callable[[str], float | None]) -> int:
        """Score the markouts due by ``now`` against the consolidated mid; returns how many."""
        heap = self._markouts
        done = 0
        while heap and heap[0][0] <= now:
            _, _, _, lp, sym, b, i, s, price, mid0 = heapq.heappop(heap)
            mid_h = mid_of(sym)
            if mid_h is None:
                continue  # no market at the horizon: nothing to score
            base = _BASE_KPIS + 2 * i
            self._update(lp, sym, b, base, 2 * s * (price - mid_h) / mid0 * 1e4, now)
            self._update(lp, sym, b, base + 1, s * (mid_h - mid0) / mid0 * 1e4, now)
            done += 1
        return done

    # --- reading -------------------------------------------------------------------------------
    def kpis(
        self, lp: str, symbol: str | None = None, bucket: int | None = None, now: float = 0.0
    ) -> list[float]:
        """KPI values for a decision: the narrowest key shrunk toward the wider ones and the prior."""
        k = self.k
        decay = self.decay
        prior = self._prior
        size = self.size
        out = list(prior)
        keys: list[Any] = [lp]
        if symbol is not None:
            keys.append((lp, symbol))
            if bucket is not None:
                keys.append((lp, symbol, bucket))
        for key in keys:
            st = self._stats.get(key)
            if st is None:
                continue
            means, ns, ts = st.mean, st.n, st.t
            for j in range(size):
                n = ns[j]
                if n:
                    if now > ts[j]:
                        n *= math.exp(-decay * (now - ts[j]))
                    w = n / (n + k) if k else 1.0
                    out[j] = w * means[j] + (1.0 - w) * out[j]
        return out

    def observations(self, lp: str, now: float, symbol: str | None = None) -> float:
        """Effective (decayed) number of finished children behind the LP's (or LP-symbol's) figures."""
        st = self._stats.get(lp if symbol is None else (lp, symbol))
        return 0.0 if st is None else st.weight(FILL_RATE, now, self.decay)

    def kpi_value(self, vec: list[float], name: str) -> float:
        if name == "latency":
            return vec[ACK_LAT]
        if name == "market_impact":
            return vec[self._impact_index]
        if name == "realized_spread":
            return vec[self._impact_index - 1]
        if name.startswith(("realized_spread_", "market_impact_")):
            kind, _, h = name.rpartition("_")
            i = [f"{x:g}s" for x in self.settings.horizons_s].index(h)
            return vec[_BASE_KPIS + 2 * i + (0 if kind == "realized_spread" else 1)]
        return vec[KPI_NAMES.index(name)]

    def scores(
        self,
        lps: list[str],
        symbol: str | None,
        profile: str,
        now: float,
        *,
        bucket: int | None = None,
        weights: Mapping[str, float] | None = None,
    ) -> dict[str, float]:
        """Composite 0-100 of each LP in ``lps`` (normalised across them) for ``profile``."""
        w = weights if weights is not None else self.settings.profiles[profile]
        vectors = {lp: self.kpis(lp, symbol, bucket, now) for lp in lps}
        result = dict.fromkeys(lps, 0.0)
        if not lps:
            return result
        zscore = self.settings.normalization == "zscore"
        for kpi, weight in w.items():
            if not weight:
                continue
            values = [self.kpi_value(vectors[lp], kpi) for lp in lps]
            lower = kpi in LOWER_IS_BETTER or kpi.startswith(("market_impact_", "realized_spread_"))
            norms = _normalise(values, lower, zscore)
            for lp, v in zip(lps, norms, strict=True):
                result[lp] += weight * v
        penalty = self.settings.rejection_penalty
        for lp in lps:
            rej = min(1.0, max(0.0, vectors[lp][REJECT_RATE]))
            result[lp] = 100.0 * result[lp] * max(0.0, 1.0 - penalty * rej)
        return result

    def rejection_rate(self, lp: str, symbol: str | None, now: float) -> float:
        return self.kpis(lp, symbol, None, now)[REJECT_RATE]

    def snapshot(self, now: float, symbol: str | None = None) -> dict[str, Any]:
        """Per LP: KPIs by name and the composite per profile (plain data for the console)."""
        names = self.settings.kpi_names()
        lps = list(self.lps)
        out: dict[str, Any] = {"lps": {}, "profiles": {p: dict(w) for p, w in self.settings.profiles.items()}}
        per_profile = {p: self.scores(lps, symbol, p, now) for p in self.settings.profiles}
        for lp in lps:
            vec = self.kpis(lp, symbol, None, now)
            out["lps"][lp] = {
                "kpis": {n: self.kpi_value(vec, n) for n in names},
                "observations": self.observations(lp, now),
                "scores": {p: per_profile[p][lp] for p in per_profile},
            }
        return out


def _normalise(values: list[float], lower_is_better: bool, zscore: bool) -> list[float]:
    n = len(values)
    if n == 1:
        return [0.5]
    if zscore:
        mean = sum(values) / n
        var = sum((v - mean) ** 2 for v in values) / n
        if var <= 1e-18:
            return [0.5] * n
        sd = math.sqrt(var)
        out = [0.5 * (1.0 + math.erf((v - mean) / sd / math.sqrt(2.0))) for v in values]
    else:
        lo, hi = min(values), max(values)
        if hi - lo <= 1e-12 * max(1.0, abs(hi)):
            return [0.5] * n
        span = hi - lo
        out = [(v - lo) / span for v in values]
    return [1.0 - v for v in out] if lower_is_better else out


def parse_scorecard_settings(d: Mapping[str, Any], source: str) -> ScorecardSettings:
    """[scorecard] and [profiles.NAME] tables of the gateway's TOML."""
    allowed = {
        "HalfLife",
        "Horizons",
        "ImpactHorizon",
        "ShrinkageK",
        "Normalization",
        "RejectionPenalty",
        "SizeBuckets",
        "Prior",
        "Profiles",
    }
    for key in d:
        if key not in allowed:
            raise ScorecardError(
                f"{source}: [scorecard] {key}: unknown key; allowed: {', '.join(sorted(allowed))}"
            )
    try:
        settings = ScorecardSettings(
            half_life_s=float(d.get("HalfLife", 300.0)),
            horizons_s=tuple(float(h) for h in d.get("Horizons", (1.0, 5.0, 30.0))),
            impact_horizon_s=float(d.get("ImpactHorizon", 5.0)),
            shrinkage_k=float(d.get("ShrinkageK", 20.0)),
            normalization=str(d.get("Normalization", "minmax")),
            rejection_penalty=float(d.get("RejectionPenalty", 1.0)),
            size_buckets=tuple(float(x) for x in d.get("SizeBuckets", (0.5, 2.0))),
        )
        prior = d.get("Prior", {})
        for name, value in prior.items():
            if name not in DEFAULT_PRIOR:
                raise ScorecardError(
                    f"[scorecard.Prior] {name}: unknown KPI; allowed: {', '.join(DEFAULT_PRIOR)}"
                )
            settings.prior[name] = float(value)
        for name, weights in d.get("Profiles", {}).items():
            check_weights(name, weights, settings.kpi_names())
            settings.profiles[name] = {k: float(v) for k, v in weights.items()}
    except ScorecardError as exc:
        raise ScorecardError(f"{source}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ScorecardError(f"{source}: [scorecard]: {exc}") from None
    return settings
