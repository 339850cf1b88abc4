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

Costs (``benchmarks/scorecard.py``): a child finds its three keys once, when it is sent,
and its later events update them directly, each event with one pass over the keys; a
fill pushes one markout, whose next horizon is pushed when it matures. A decision computes
only the KPIs its profile weighs (and the rejection rate), for all LPs in one pass, from
the symbol's maps found once, and gets each LP's rejection rate on the symbol from the same
pass (``decision_rows``, then ``composite``). Nothing scans the symbols. The arithmetic is
the same, to the last bit, as computing every KPI of every key.

What a decision computed is kept for the next ones (``decision_board``): the rows of a
(symbol, size bucket, profile) and list of LPs, each row computed again as soon as its LP
has a new observation (any of the LP's keys: the LP-wide figures move with every one of
them), and all of them once the board is older than ``refresh_s`` (``Refresh``; by default
half-life / 300, 1 s with the default half-life). A score depends on the time of the
decision as well as on the observations (each key's weight n decays to ``now``); between
observations it drifts only with that decay, each weight by a factor
exp(-ln 2 x refresh / half-life) at most (1 - 0.0023 with the default refresh, whatever
the half-life), so a decision sees every observation at once and the decay at most
``refresh_s`` late. ``Refresh = 0`` computes every decision afresh. The composite scores
of a board's rows (``Scores``) follow a changed row without being computed again for every
LP while the row stays inside each KPI's range across the LPs (``Scores.replace``).

Pure and synchronous: no I/O, no clock (time is passed in), no asyncio.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

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
    # a decision's rows are recomputed at least this often (decision_board); None: half-life / 300
    refresh_s: float | None = None
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
        if self.refresh_s is not None and not self.refresh_s >= 0:  # also refuses NaN
            raise ScorecardError(f"Refresh: {self.refresh_s} must be >= 0 seconds")
        if self.normalization not in ("minmax", "zscore"):
            raise ScorecardError(f"Normalization: {self.normalization!r}; allowed: minmax, zscore")
        for name, weights in self.profiles.items():
            check_weights(name, weights, self.kpi_names())

    @property
    def refresh(self) -> float:
        """Seconds a decision's rows are kept at most: ``refresh_s``, or half-life / 300
        (decay moves a weight by at most 0.23 % in that time)."""
        return self.half_life_s / 300.0 if self.refresh_s is None else self.refresh_s

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


#: Boards kept by ``decision_board`` (symbol x size bucket x profile), the oldest dropped first
MAX_BOARDS: Final = 4096

_NO_ROW: Final[list[float]] = []  # a place in a list of rows, filled before it is read

Keys = tuple[Stats, Stats, Stats]  # LP, (LP, symbol), (LP, symbol, size bucket)
_NOTHING: Final[dict[str, Stats]] = {}  # a symbol (or bucket) with no figures yet; never written


class ProfilePlan(NamedTuple):
    """A profile's weights compiled for ``scores``: KPI indices instead of names."""

    pj: tuple[tuple[int, int], ...]  # (place in a row, KPI index): each weighted KPI, the rejection rate
    terms: tuple[tuple[int, float, bool], ...]  # (place in a row, weight, lower is better), weight order
    reject: int  # place of the rejection rate in a row


@dataclass(slots=True)
class _Child:
    stats: Keys  # found when the child is sent; its events and markouts update them directly
    symbol: str
    side: int  # +1 buy, -1 sell
    qty: float
    sent: float
    mid: float | None
    far: float | None
    answered: float | None = None
    filled: float = 0.0
    fill_notional: float = 0.0
    last_look: bool = False


class Board:
    """The rows of one (symbol, size bucket, profile) and list of LPs, kept between
    decisions (``Scorecard.decision_board``): ``rows[i]`` and ``rates[i]`` are those of
    ``decision_rows`` for ``lps[i]``. ``memo`` is the caller's, for what it derives from the
    rows (the router: scores and ranking); ``changed`` lists the places of the rows computed
    again since the caller last emptied it (a new board has no memo).
    """

    __slots__ = ("changed", "gens", "lps", "memo", "plan", "rates", "rows", "t", "tops")

    def __init__(
        self,
        lps: list[str],
        plan: ProfilePlan,
        tops: list[Stats],
        t: float,
        rows: list[list[float]],
        rates: list[float],
    ) -> None:
        self.lps = lps
        self.plan = plan
        self.tops = tops  # each LP's LP-wide Stats: its version moves with every observation of the LP
        self.gens = [st.version for st in tops]
        self.t = t  # when the rows were computed (the oldest of them)
        self.rows = rows
        self.rates = rates
        self.memo: Any = None
        self.changed: list[int] = []


class Scorecard:
    """KPIs per LP, (LP, symbol) and (LP, symbol, size bucket); composite scores per profile.

    The figures of a key live in a ``Stats``: LP-wide ones in ``_stats`` by LP, per symbol in
    ``_by_symbol[symbol][lp]``, per size bucket in ``_by_bucket[(symbol, bucket)][lp]``, so
    that a decision finds a symbol's maps once and then does one str lookup per LP and level.
    A child finds its three ``Stats`` when it is sent and keeps them; its later events and
    its markouts update them directly. Both costs are independent of how many symbols exist.
    """

    def __init__(self, settings: ScorecardSettings | None = None) -> None:
        self.settings = s = settings or ScorecardSettings()
        self.size = _BASE_KPIS + 2 * len(s.horizons_s)
        self.decay = math.log(2) / s.half_life_s
        self.k = s.shrinkage_k
        self._stats: dict[str, Stats] = {}
        self._by_symbol: dict[str, dict[str, Stats]] = {}
        self._by_bucket: dict[tuple[str, int], dict[str, Stats]] = {}
        self._children: dict[bytes, _Child] = {}
        # One heap entry per fill at a time: (due, seq, symbol, the child's Stats, place in
        # _chain, side, fill price, mid at send, fill time, first seq of the fill). When it
        # matures, the fill's next horizon is pushed with the (due, seq) it would have had if
        # all were pushed at the fill: the same order, a third of the pushes on the fill's path.
        self._markouts: list[tuple[float, int, str, Keys, int, int, float, float, float, int]] = []
        self._markout_seq = 0
        self._chain = tuple(sorted(range(len(s.horizons_s)), key=lambda i: s.horizons_s[i]))
        self.lps: list[str] = []
        self._lp_set: set[str] = set()
        self.updates = 0
        self._prior = self._prior_vector()
        self._impact_index = _BASE_KPIS + 2 * s.horizons_s.index(s.impact_horizon_s) + 1
        self._index = self._kpi_indices()
        self._plans: dict[str, tuple[tuple[tuple[str, float], ...], ProfilePlan]] = {}
        self._all_kpis = tuple(enumerate(range(self.size)))
        self._boards: dict[tuple[str, int | None, int], Board] = {}
        # id(plan) -> (plan, LP -> (LP-wide version, time, row after the LP-wide level))
        self._lp_level: dict[int, tuple[ProfilePlan, dict[str, tuple[int, float, list[float]]]]] = {}
        self._refresh = s.refresh

    # --- settings ---------------------------------------------------------------------------
    def _prior_vector(self) -> list[float]:
        p = self.settings.prior
        vec = [p.get(name, DEFAULT_PRIOR.get(name, 0.0)) for name in KPI_NAMES]
        for _ in self.settings.horizons_s:
            vec += [p.get("realized_spread", 0.0), p.get("market_impact", 0.0)]
        return vec

    def _kpi_indices(self) -> dict[str, int]:
        """Every KPI name a profile or the console may use -> its index in a KPI vector."""
        index = {name: i for i, name in enumerate(KPI_NAMES)}
        for i, h in enumerate(self.settings.horizons_s):
            index.setdefault(f"realized_spread_{h:g}s", _BASE_KPIS + 2 * i)
            index.setdefault(f"market_impact_{h:g}s", _BASE_KPIS + 2 * i + 1)
        index["latency"] = ACK_LAT
        index["market_impact"] = self._impact_index
        index["realized_spread"] = self._impact_index - 1
        return index

    def _compile(self, weights: Mapping[str, float]) -> ProfilePlan:
        idx: list[int] = []
        terms: list[tuple[int, float, bool]] = []
        for kpi, weight in weights.items():
            if not weight:
                continue
            j = self._index.get(kpi)
            if j is None:
                raise ValueError(f"unknown KPI {kpi!r}")
            if j not in idx:
                idx.append(j)
            lower = kpi in LOWER_IS_BETTER or kpi.startswith(("market_impact_", "realized_spread_"))
            terms.append((idx.index(j), weight, lower))
        if REJECT_RATE not in idx:
            idx.append(REJECT_RATE)
        # the markouts, scored later than a child's other KPIs, last: KPIs updated at the same
        # time are next to each other in a pass over a key, and share one exp (see _rows)
        pj = sorted(enumerate(idx), key=lambda place_kpi: place_kpi[1] >= _BASE_KPIS)
        return ProfilePlan(tuple(pj), tuple(terms), idx.index(REJECT_RATE))

    def _plan(self, profile: str, weights: Mapping[str, float] | None) -> ProfilePlan:
        if weights is not None:
            return self._compile(weights)
        w = self.settings.profiles[profile]
        items = tuple(w.items())  # the weights, in order: the dict may be edited in place
        cached = self._plans.get(profile)
        if cached is not None and cached[0] == items:
            return cached[1]
        plan = self._compile(w)
        self._plans[profile] = (items, plan)
        return plan

    def set_weights(self, profile: str, weights: Mapping[str, float]) -> None:
        """Replace a profile's weights at run time (validated; nothing changes on error)."""
        clean = {k: float(v) for k, v in weights.items() if v}
        check_weights(profile, weights, self.settings.kpi_names())
        self.settings.profiles[profile] = clean

    def add_lp(self, lp: str) -> None:
        if lp not in self._lp_set:
            self._lp_set.add(lp)
            self.lps.append(lp)
            if lp not in self._stats:
                self._stats[lp] = Stats(self.size)

    # --- keys -----------------------------------------------------------------------------
    def _keys(self, lp: str, symbol: str, bucket: int) -> Keys:
        """The three Stats an observation of (lp, symbol, bucket) updates, created if new."""
        size = self.size
        st = self._stats.get(lp)
        if st is None:
            st = self._stats[lp] = Stats(size)
        by_lp = self._by_symbol.get(symbol)
        if by_lp is None:
            by_lp = self._by_symbol[symbol] = {}
        ss = by_lp.get(lp)
        if ss is None:
            ss = by_lp[lp] = Stats(size)
        in_bucket = self._by_bucket.get((symbol, bucket))
        if in_bucket is None:
            in_bucket = self._by_bucket[(symbol, bucket)] = {}
        sb = in_bucket.get(lp)
        if sb is None:
            sb = in_bucket[lp] = Stats(size)
        return st, ss, sb

    def bucket(self, qty: float, typical: float) -> int:
        if typical <= 0:
            return 0
        r = qty / typical
        for i, edge in enumerate(self.settings.size_buckets):
            if r < edge:
                return i
        return len(self.settings.size_buckets)

    def _record(self, keys: Keys, now: float, obs: Sequence[tuple[int, float]]) -> None:
        """Observations (KPI index, value) made at ``now``, at each of the three keys.

        The old weight of a KPI decays by exp(-decay x dt) before the new one counts 1; KPIs
        last updated at the same time share one exp (an event updates several KPIs at once).
        """
        decay = self.decay
        exp = math.exp
        for st in keys:
            means, ns, ts = st.mean, st.n, st.t
            last_t: float | None = None
            f = 1.0
            for k, x in obs:
                n = ns[k]
                if n:
                    t = ts[k]
                    if now > t:
                        if t != last_t:
                            f = exp(-decay * (now - t))
                            last_t = t
                        n *= f
                n += 1.0
                means[k] += (x - means[k]) / n
                ns[k] = n
                ts[k] = now
            st.version += 1
        self.updates += len(obs)

    def _update(self, lp: str, symbol: str, bucket: int, k: int, x: float, now: float) -> None:
        """One observation of KPI k at the three keys."""
        self._record(self._keys(lp, symbol, bucket), now, ((k, x),))

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
        if lp not in self._lp_set:
            self.add_lp(lp)
        self._children[child_id] = _Child(
            self._keys(lp, symbol, self.bucket(qty, typical)),
            symbol,
            1 if side > 0 else -1,
            qty,
            now,
            mid,
            far,
            last_look=last_look,
        )

    def on_answer(self, child_id: bytes, now: float) -> None:
        """The first ExecutionReport (ack or fill) for the child: ack latency."""
        c = self._children.get(child_id)
        if c is None or c.answered is not None:
            return
        c.answered = now
        self._record(c.stats, now, ((ACK_LAT, (now - c.sent) * 1000.0),))

    def on_fill(self, child_id: bytes, qty: float, price: float, now: float) -> None:
        c = self._children.get(child_id)
        if c is None or qty <= 0:
            return
        obs: list[tuple[int, float]] = []
        if c.answered is None:  # a fill is also the first answer
            c.answered = now
            obs.append((ACK_LAT, (now - c.sent) * 1000.0))
        s = c.side
        if c.filled == 0.0:
            obs.append((FILL_LAT, (now - c.sent) * 1000.0))
            if c.last_look:
                obs.append((HOLD, (now - c.sent) * 1000.0))
        c.filled += qty
        c.fill_notional += qty * price
        far = c.far
        if far:
            obs.append((PI, s * (far - price) / far * 1e4))
        mid = c.mid
        if mid:
            obs.append((PI_MID, s * (mid - price) / mid * 1e4))
            obs.append((EFF_SPREAD, 2 * s * (price - mid) / mid * 1e4))
        if obs:
            self._record(c.stats, now, obs)
        if mid:
            seq0 = self._markout_seq
            self._markout_seq = seq0 + len(self._chain)
            i = self._chain[0]
            heapq.heappush(
                self._markouts,
                (
                    now + self.settings.horizons_s[i],
                    seq0 + i + 1,
                    c.symbol,
                    c.stats,
                    0,
                    s,
                    price,
                    mid,
                    now,
                    seq0,
                ),
            )

    def on_done(self, child_id: bytes, rejected: bool, now: float) -> None:
        """The child ended: fill rate and rejection rate (and hold time of a last-look reject)."""
        c = self._children.pop(child_id, None)
        if c is None:
            return
        fill_rate = min(1.0, c.filled / c.qty) if c.qty > 0 else 0.0
        if rejected and c.last_look:
            self._record(
                c.stats, now, ((HOLD, (now - c.sent) * 1000.0), (REJECT_RATE, 1.0), (FILL_RATE, fill_rate))
            )
        else:
            self._record(c.stats, now, ((REJECT_RATE, 1.0 if rejected else 0.0), (FILL_RATE, fill_rate)))

    # --- markouts ----------------------------------------------------------------------------
    def next_markout(self) -> float | None:
        return self._markouts[0][0] if self._markouts else None

    def mature(self, now: float, mid_of: Callable[[str], float | None]) -> int:
        """Score the markouts due by ``now`` against the consolidated mid; returns how many."""
        heap = self._markouts
        done = 0
        chain = self._chain
        horizons = self.settings.horizons_s
        while heap and heap[0][0] <= now:
            _, _, sym, keys, place, s, price, mid0, filled, seq0 = heapq.heappop(heap)
            i = chain[place]
            if place + 1 < len(chain):
                j = chain[place + 1]
                heapq.heappush(
                    heap,
                    (filled + horizons[j], seq0 + j + 1, sym, keys, place + 1, s, price, mid0, filled, seq0),
                )
            mid_h = mid_of(sym)
            if mid_h is None:
                continue  # no market at the horizon: nothing to score
            base = _BASE_KPIS + 2 * i
            self._record(
                keys,
                now,
                ((base, 2 * s * (price - mid_h) / mid0 * 1e4), (base + 1, s * (mid_h - mid0) / mid0 * 1e4)),
            )
            done += 1
        return done

    # --- reading -------------------------------------------------------------------------------
    def kpis(
        self, lp: str, symbol: str | None = None, bucket: int | None = None, now: float = 0.0
    ) -> list[float]:
        """KPI values for a decision: the narrowest key shrunk toward the wider ones and the prior."""
        return self._rows((lp,), symbol, bucket, self._all_kpis, REJECT_RATE, now)[0][0]

    def profile_plan(self, profile: str) -> ProfilePlan:
        """The compiled weights of a configured profile (recompiled when they are edited)."""
        return self._plan(profile, None)

    def decision_rows(
        self, lps: Sequence[str], symbol: str, bucket: int | None, plan: ProfilePlan, now: float
    ) -> tuple[list[list[float]], list[float]]:
        """What a routing decision needs of each LP, in one pass: the row of KPIs that
        ``plan`` weighs (for ``composite``) and the LP's ``rejection_rate`` on the symbol."""
        return self._rows(lps, symbol, bucket, plan.pj, plan.reject, now)

    def decision_board(
        self, lps: Sequence[str], symbol: str, bucket: int | None, plan: ProfilePlan, now: float
    ) -> Board:
        """``decision_rows`` of ``lps``, kept from the last decision on the same symbol, size
        bucket and profile where they still hold: a row is computed again when its LP has
        had an observation since, every row when the board is older than ``refresh_s`` (or
        ``now`` is before it was made). At most ``MAX_BOARDS`` boards are kept, the oldest
        made dropped first."""
        key = (symbol, bucket, id(plan))
        b = self._boards.get(key)
        if b is not None and b.plan is plan and b.t <= now <= b.t + self._refresh and b.lps == lps:
            gens = [st.version for st in b.tops]
            if gens != b.gens:
                old = b.gens
                moved = [i for i, g in enumerate(gens) if g != old[i]]
                lps_moved = [b.lps[i] for i in moved]
                starts = self._lp_rows(lps_moved, [b.tops[i] for i in moved], plan, now)
                rows, rates = self._rows(lps_moved, symbol, bucket, plan.pj, plan.reject, now, starts)
                for i, row, rate in zip(moved, rows, rates, strict=True):
                    b.rows[i] = row
                    b.rates[i] = rate
                b.gens = gens
                b.changed += moved
            return b
        stats = self._stats
        size = self.size
        tops: list[Stats] = []
        for lp in lps:
            st = stats.get(lp)
            if st is None:  # an LP with no figures yet: its first observation will move it
                st = stats[lp] = Stats(size)
            tops.append(st)
        starts = self._lp_rows(lps, tops, plan, now)
        rows, rates = self._rows(lps, symbol, bucket, plan.pj, plan.reject, now, starts)
        boards = self._boards
        if b is None and len(boards) >= MAX_BOARDS:
            del boards[next(iter(boards))]
        b = boards[key] = Board(list(lps), plan, tops, now, rows, rates)
        return b

    def _lp_rows(
        self, lps: Sequence[str], tops: Sequence[Stats], plan: ProfilePlan, now: float
    ) -> list[list[float]]:
        """Each LP's row after the LP-wide level (``_rows`` without a symbol), for ``plan``;
        ``tops``: the LPs' LP-wide Stats. The same for every symbol: kept per LP until its
        next observation, or for ``refresh_s``, as the boards' rows are."""
        got = self._lp_level.get(id(plan))
        if got is None or got[0] is not plan:
            if len(self._lp_level) >= 64:  # plans of weights edited long ago
                self._lp_level.clear()
            got = self._lp_level[id(plan)] = (plan, {})
        kept = got[1]
        refresh = self._refresh
        out: list[list[float]] = []
        stale: list[int] = []
        for lp, st in zip(lps, tops, strict=True):
            e = kept.get(lp)
            if e is not None and e[0] == st.version and e[1] <= now <= e[1] + refresh:
                out.append(e[2])
            else:
                stale.append(len(out))
                out.append(_NO_ROW)
        if stale:
            rows, _ = self._rows([lps[i] for i in stale], None, None, plan.pj, plan.reject, now)
            for i, row in zip(stale, rows, strict=True):
                out[i] = row
                kept[lps[i]] = (tops[i].version, now, row)
        return out

    def _rows(
        self,
        lps: Iterable[str],
        symbol: str | None,
        bucket: int | None,
        pj: tuple[tuple[int, int], ...],
        reject: int,
        now: float,
        starts: list[list[float]] | None = None,
    ) -> tuple[list[list[float]], list[float]]:
        """For each LP, a row of KPIs (``pj``: place in the row, KPI index): the prior shrunk
        through the levels; and, on the way, each LP's value at place ``reject`` before the
        size-bucket level (``rejection_rate`` when ``reject`` holds it). ``starts``: each
        LP's row after the LP-wide level, already computed (``_lp_rows``).

        At each level (LP, symbol, bucket), value = w x mean + (1 - w) x value with
        w = n / (n + k), n the KPI's weight decayed to ``now``; KPIs last updated together
        share one exp. One pass over the LPs: the symbol's maps are found once.
        """
        by_symbol = _NOTHING if symbol is None else self._by_symbol.get(symbol, _NOTHING)
        by_bucket = (
            _NOTHING if symbol is None or bucket is None else self._by_bucket.get((symbol, bucket), _NOTHING)
        )
        # the levels, narrower and narrower; None: the place to take the rejection rate
        maps: tuple[dict[str, Stats] | None, ...]
        if starts is None:
            maps = (self._stats, by_symbol, None, by_bucket)
            prior = self._prior
            start = [0.0] * len(pj)
            for p, j in pj:
                start[p] = prior[j]
            firsts: Iterable[list[float]] = itertools.repeat(start)
        else:
            maps = (by_symbol, None, by_bucket)
            firsts = starts
        k = self.k
        decay = self.decay
        exp = math.exp
        rows: list[list[float]] = []
        rates: list[float] = []
        for lp, first in zip(lps, firsts, strict=False):
            row = first.copy()
            for by_lp in maps:
                if by_lp is None:  # the symbol's value, before its size buckets
                    rates.append(row[reject])
                    continue
                st = by_lp.get(lp)
                if st is None:
                    continue
                means, ns, ts = st.mean, st.n, st.t
                last_t: float | None = None
                f = 1.0
                for p, j in pj:
                    n = ns[j]
                    if n:
                        t = ts[j]
                        if now > t:
                            if t != last_t:
                                f = exp(-decay * (now - t))
                                last_t = t
                            n *= f
                            if not n:
                                continue  # faded out of the floats: no weight, as if never seen
                        w = n / (n + k)  # n > 0: exactly 1.0 when k == 0
                        row[p] = w * means[j] + (1.0 - w) * row[p]
            rows.append(row)
        return rows, rates

    def observations(self, lp: str, now: float, symbol: str | None = None) -> float:
        """Effective (decayed) number of finished children behind the LP's (or LP-symbol's) figures."""
        st = self._stats.get(lp) if symbol is None else self._by_symbol.get(symbol, _NOTHING).get(lp)
        return 0.0 if st is None else st.weight(FILL_RATE, now, self.decay)

    def kpi_value(self, vec: list[float], name: str) -> float:
        j = self._index.get(name)
        if j is None:
            raise ValueError(f"unknown KPI {name!r}; allowed: {', '.join(self._index)}")
        return vec[j]

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
        """Composite 0-100 of each LP in ``lps`` (normalised across them) for ``profile``.

        Only the KPIs the profile weighs, and the rejection rate, are computed (an LP listed
        twice counts once).
        """
        plan = self._plan(profile, weights)
        result = dict.fromkeys(lps, 0.0)
        if not lps:
            return result
        if len(result) < len(lps):
            lps = list(result)  # each LP once
        rows, _ = self._rows(lps, symbol, bucket, plan.pj, plan.reject, now)
        return dict(zip(lps, self.composite(plan, rows), strict=False))

    def composite(self, plan: ProfilePlan, rows: list[list[float]]) -> list[float]:
        """The composite 0-100 of each row of ``decision_rows`` (one row per LP, each LP
        once), normalised across the rows: ``scores`` of those LPs, in their order."""
        return self.scored(plan, rows).values if rows else []

    def scored(self, plan: ProfilePlan, rows: list[list[float]]) -> Scores:
        """``composite`` of ``rows``, kept with what it was computed from: ``Scores.replace``
        follows a changed row."""
        s = self.settings
        return Scores(plan, rows, s.normalization == "zscore", s.rejection_penalty)

    def rejection_rate(self, lp: str, symbol: str | None, now: float) -> float:
        """The rejection rate of the LP (on the symbol): ``kpis(lp, symbol)[REJECT_RATE]``.

        The arithmetic of ``_rows`` for one KPI, without building rows (the router gets the
        same figure from ``decision_rows``).
        """
        v = self._prior[REJECT_RATE]
        k = self.k
        for st in (
            self._stats.get(lp),
            None if symbol is None else self._by_symbol.get(symbol, _NOTHING).get(lp),
        ):
            if st is not None:
                n = st.n[REJECT_RATE]
                if n:
                    t = st.t[REJECT_RATE]
                    if now > t:
                        n *= math.exp(-self.decay * (now - t))
                    if n:  # not faded out of the floats
                        w = n / (n + k)
                        v = w * st.mean[REJECT_RATE] + (1.0 - w) * v
        return v

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


class Scores:
    """The composite 0-100 of rows of ``decision_rows`` (one per LP, each LP once),
    normalised across them: ``values[i]`` is the score of ``rows[i]``.

    Each weighted KPI is normalised across the rows (min-max, or z-score through the normal
    CDF), "lower is better" ones inverted, weighted, summed in the profile's order, and the
    sum multiplied by 100 x max(0, 1 - penalty x min(1, max(0, rejection rate))).

    ``replace`` changes rows. With min-max, each weighted KPI's part of every row's sum is
    kept: a KPI whose range across the rows did not move keeps the parts of the other
    rows, so only the changed rows' parts are computed again, and only their values when
    no range moved. The arithmetic is the same whichever way a value is reached: the values
    are always exactly those of computing every row afresh.
    """

    __slots__ = ("bounds", "cols", "factors", "n", "parts", "penalty", "plan", "values", "zscore")

    def __init__(self, plan: ProfilePlan, rows: list[list[float]], zscore: bool, penalty: float) -> None:
        self.plan = plan
        self.zscore = zscore
        self.penalty = penalty
        self.n = len(rows)
        self.cols: list[list[float]] = [list(col) for col in zip(*rows, strict=False)]
        # per place in a row that a term weighs: (lo, hi, span) of its column across the rows,
        # span 0.0 when there is no spread (every row gets 0.5)
        self.bounds: dict[int, tuple[float, float, float]] = {}
        self.parts: list[list[float]] | None = None  # per term, each row's weight x normalised value
        self.factors: list[float] = []  # per row, max(0, 1 - penalty x rejection rate clamped)
        self.values: list[float] = []
        self._compute()

    def _factor(self, r: float) -> float:
        """max(0, 1 - penalty x min(1, max(0, r))) of a rejection rate ``r``."""
        f = 1.0 - self.penalty * ((r if r < 1.0 else 1.0) if r > 0.0 else 0.0)
        return f if f > 0.0 else 0.0

    def _bound(self, p: int) -> None:
        col = self.cols[p]
        lo, hi = min(col), max(col)
        self.bounds[p] = (lo, hi, 0.0 if hi - lo <= 1e-12 * max(1.0, abs(hi)) else hi - lo)

    def _part(self, t: int) -> list[float]:
        """Term ``t``'s part of every row's sum."""
        p, weight, lower = self.plan.terms[t]
        lo, _, span = self.bounds[p]
        if not span:
            return [weight * 0.5] * self.n
        if lower:
            return [weight * (1.0 - (v - lo) / span) for v in self.cols[p]]
        return [weight * ((v - lo) / span) for v in self.cols[p]]

    def _part_of(self, t: int, i: int) -> float:
        """Term ``t``'s part of row ``i``'s sum: the arithmetic of ``_part``."""
        p, weight, lower = self.plan.terms[t]
        lo, _, span = self.bounds[p]
        if not span:
            return weight * 0.5
        if lower:
            return weight * (1.0 - (self.cols[p][i] - lo) / span)
        return weight * ((self.cols[p][i] - lo) / span)

    def _compute(self) -> None:
        n = self.n
        if not n:
            self.parts, self.factors, self.values = None, [], []
            return
        cols = self.cols
        penalty = self.penalty  # _factor of each row, without a call per row
        self.factors = factors = [
            f if (f := 1.0 - penalty * ((r if r < 1.0 else 1.0) if r > 0.0 else 0.0)) > 0.0 else 0.0
            for r in cols[self.plan.reject]
        ]
        if n == 1 or self.zscore:
            acc = [0.0] * n
            for p, weight, lower in self.plan.terms:
                norms = _normalise(cols[p], lower, self.zscore)
                acc = [a + weight * v for a, v in zip(acc, norms, strict=False)]
            self.parts = None
            self.values = [100.0 * a * f for a, f in zip(acc, factors, strict=False)]
            return
        for p in {p for p, _, _ in self.plan.terms}:
            self._bound(p)
        self.parts = [self._part(t) for t in range(len(self.plan.terms))]
        self._sum()

    def _sum(self) -> None:
        """Every value from the kept parts (summed in the terms' order, from 0)."""
        assert self.parts is not None
        rows = zip(*self.parts, strict=False)
        self.values = [100.0 * sum(ps) * f for ps, f in zip(rows, self.factors, strict=False)]

    def replace(self, changes: Iterable[tuple[int, list[float]]]) -> bool:
        """Rows changed: row ``i`` is now ``row`` for each (i, row). True when only their
        values changed; False when every value was computed again (a KPI's range across the
        rows moved, or z-scores)."""
        cols = self.cols
        terms = self.plan.terms
        reject = self.plan.reject
        parts = self.parts
        if parts is None:  # z-scores (or one row): each row moves every value
            for i, row in changes:
                for col, v in zip(cols, row, strict=False):
                    col[i] = v
            self._compute()
            return False
        bounds = self.bounds
        moved: set[int] = set()  # places whose range across the rows moved
        places: list[int] = []
        for i, row in changes:
            places.append(i)
            for p in bounds:
                col = cols[p]
                old, new = col[i], row[p]
                if old == new:
                    continue
                col[i] = new
                if p not in moved:
                    lo, hi, _ = bounds[p]
                    if not (lo < old < hi and lo <= new <= hi) and (min(col) != lo or max(col) != hi):
                        moved.add(p)
            cols[reject][i] = r = row[reject]
            self.factors[i] = self._factor(r)
        for p in moved:
            self._bound(p)
        part_of = self._part_of
        for t, (p, _, _) in enumerate(terms):
            if p in moved:
                parts[t] = self._part(t)
            else:
                part = parts[t]
                for i in places:
                    part[i] = part_of(t, i)
        if moved:
            self._sum()
            return False
        values = self.values
        factors = self.factors
        for i in places:
            values[i] = 100.0 * sum([part[i] for part in parts]) * factors[i]
        return True


def _normalise(values: list[float], lower_is_better: bool, zscore: bool) -> list[float]:
    """Each LP's value of one KPI mapped to [0, 1] across the LPs, 1 the best."""
    n = len(values)
    if n == 1:
        return [0.5]
    if not zscore:
        lo, hi = min(values), max(values)
        if hi - lo <= 1e-12 * max(1.0, abs(hi)):
            return [0.5] * n
        span = hi - lo
        if lower_is_better:
            return [1.0 - (v - lo) / span for v in values]
        return [(v - lo) / span for v in values]
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / n
    if var <= 1e-18:
        return [0.5] * n
    sd = math.sqrt(var)
    out = [0.5 * (1.0 + math.erf((v - mean) / sd / math.sqrt(2.0))) for v in values]
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
        "Refresh",
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
            refresh_s=None if d.get("Refresh") is None else float(d["Refresh"]),
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
