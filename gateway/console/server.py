"""The gateway's HTTP server: Prometheus ``/metrics``, the admin API and the console page.

An aiohttp server on the gateway's own event loop (no thread, no other process). It reads
the domain's state through ``views`` and changes it only through the application's own
seams: ``scorecard.set_weights`` (the router's next decision uses the new weights),
``app.disabled`` (the router skips a disabled LP) and ``app.kill``. Every change needs the
bearer token from the environment variable named by [console] TokenEnv, is validated (a
4xx with a JSON ``error`` that says what is wrong and what is allowed), is written to the
audit log before it is applied, and takes effect at once.

Reads (GET /api/..., and the weight preview, which changes nothing) need the token too,
except from loopback when [console] ReadsNeedToken = "remote" (the default). Token-free
loopback reads also require a loopback Host header, so a web page elsewhere cannot read
them through DNS rebinding. The page and its assets are public: they hold no data.

Never on the order path: a request is handled between FIX callbacks and costs the loop
what building its JSON costs (the scorecard of a few LPs: well under a millisecond).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from gateway.console import views
from gateway.console.audit import AuditLog
from gateway.console.settings import READS_REMOTE, ConsoleSettings, parse_console_settings
from gateway.metrics import collectors, exposition
from gateway.scorecard import ScorecardError, check_weights

if TYPE_CHECKING:
    from gateway.app import GatewayApplication

logger = logging.getLogger("fixgw.console")

WEB_DIR = Path(__file__).resolve().parent / "web"
#: Where `make console-assets` (npm) puts the chart library.
CHART_JS = WEB_DIR / "node_modules" / "chart.js" / "dist" / "chart.umd.js"
_ASSETS = {"app.js": "text/javascript", "style.css": "text/css"}
_MAX_BODY = 64 * 1024
_MAX_REASON = 200

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An answer to the client: HTTP status and a message that says what to do."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _error(status: int, message: str, **extra: Any) -> web.Response:
    resp = _json({"error": message, "status": status, **extra}, status)
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="fixgw"'
    return resp


def is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def loopback_host(host: str | None) -> bool:
    """A Host header that names this machine's loopback (not a name that could be rebound)."""
    if not host:
        return False
    if host.startswith("["):
        name = host[1 : host.find("]")] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name == "localhost" or is_loopback(name)


def token_id(token: str) -> str:
    """A fingerprint of a token for the audit log (the token itself is never written)."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:12]


def read_allowed(policy: bool | str, remote: str | None, host: str | None, token_ok: bool) -> bool:
    """Whether a read may go ahead: the [console] ReadsNeedToken policy."""
    if token_ok or policy is False:
        return True
    if policy is True:
        return False
    return policy == READS_REMOTE and is_loopback(remote) and loopback_host(host)


class ConsoleServer:
    """Serves one gateway's /metrics, admin API and console page on [gateway] HttpPort."""

    def __init__(self, app: GatewayApplication, environ: dict[str, str] | None = None) -> None:
        self.app = app
        gw = app.settings
        self.settings: ConsoleSettings = parse_console_settings(
            app.settings.extra.get("console", {}), gw.source, gw.state_dir
        )
        env = os.environ if environ is None else environ
        token = env.get(self.settings.token_env, "")
        self._token = token.encode() if token else None
        self._token_id = token_id(token) if token else None
        self.host = gw.http_host
        self.port = gw.http_port
        self.url: str | None = None
        self.error: str | None = None
        self.audit = AuditLog(self.settings.audit_log)
        self.history = views.History(self.settings.history_size)
        self.collectors = collectors(app)
        self._runner: web.AppRunner | None = None
        self._history_task: asyncio.Task[None] | None = None
        self.web = self._build()

    # --- set-up -----------------------------------------------------------------------------
    def _build(self) -> web.Application:
        webapp = web.Application(middlewares=[self._guard], client_max_size=_MAX_BODY)
        r = webapp.router
        r.add_get("/", self.index)
        r.add_get("/static/{name}", self.asset)
        r.add_get("/vendor/chart.umd.js", self.chart_js)
        r.add_get("/healthz", self.healthz)
        r.add_get("/metrics", self.metrics)
        r.add_get("/api/whoami", self.whoami)
        r.add_get("/api/status", self.status)
        r.add_get("/api/scorecard", self.scorecard)
        r.add_get("/api/scorecard/history", self.scorecard_history)
        r.add_get("/api/sessions", self.sessions)
        r.add_get("/api/orders", self.orders)
        r.add_get("/api/decisions", self.decisions)
        r.add_get("/api/profiles", self.profiles)
        r.add_post("/api/profiles/{name}/preview", self.preview)
        r.add_put("/api/profiles/{name}", self.set_profile)
        r.add_get("/api/lps", self.lps)
        r.add_put("/api/lps/{name}", self.set_lp)
        r.add_post("/api/kill", self.kill)
        r.add_get("/api/audit", self.audit_tail)
        return webapp

    async def start(self) -> None:
        """Listen; a port that cannot be bound is logged and the gateway trades on without it."""
        self.audit.open()
        self._runner = web.AppRunner(self.web, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port or 0, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            self.error = (
                f"console and /metrics not available: cannot listen on {self.host}:{self.port}: {exc}"
            )
            logger.error("%s", self.error)
            print(f"fixgw: {self.error}", flush=True)
            await self._runner.cleanup()
            self._runner = None
            return
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{shown}:{self.port}/"
        self._history_task = asyncio.get_running_loop().create_task(self._history_loop())

    async def stop(self) -> None:
        if self._history_task is not None:
            self._history_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._history_task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.audit.close()

    async def _history_loop(self) -> None:
        interval = self.settings.history_interval_s
        while True:
            try:
                self.history.add(views.history_point(self.app, time.time()))
            except Exception:  # a bad snapshot must not end the trend charts
                logger.exception("scorecard snapshot failed")
            await asyncio.sleep(interval)

    # --- access --------------------------------------------------------------------------------
    def _token_ok(self, request: web.Request) -> bool | None:
        """True: a valid bearer token; False: a wrong one; None: none sent."""
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return False
        if self._token is None:
            return False
        return hmac.compare_digest(value.strip().encode(), self._token)

    def who(self, request: web.Request) -> dict[str, Any]:
        return {"token": self._token_id, "remote": request.remote}

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        token = self._token_ok(request)
        try:
            if path.startswith("/api/"):
                change = request.method not in ("GET", "HEAD") and not path.endswith("/preview")
                if change:
                    if self._token is None:
                        raise ApiError(
                            403,
                            f"admin changes are disabled: set the environment variable "
                            f"{self.settings.token_env} before starting the gateway",
                        )
                    if token is None:
                        raise ApiError(401, "this change needs the admin token (Authorization: Bearer TOKEN)")
                    if token is False:
                        raise ApiError(401, "wrong admin token")
                elif not read_allowed(
                    self.settings.reads_need_token, request.remote, request.host, bool(token)
                ):
                    raise ApiError(
                        401,
                        "reads need the admin token from this address (Authorization: Bearer TOKEN)"
                        if token is None
                        else "wrong admin token",
                    )
            elif path == "/metrics" and self.settings.metrics_need_token and not token:
                raise ApiError(401, "/metrics needs the admin token ([console] MetricsNeedToken)")
            return await handler(request)
        except ApiError as exc:
            return _error(exc.status, exc.message, **exc.extra)
        except web.HTTPException as exc:
            if exc.status >= 400:
                return _error(exc.status, exc.reason)
            raise

    # --- page -------------------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=(WEB_DIR / "index.html").read_bytes(),
            content_type="text/html",
            charset="utf-8",
            headers={
                "Cache-Control": "no-cache",
                "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data:; frame-ancestors 'none'",
            },
        )

    async def asset(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in _ASSETS:
            raise ApiError(404, f"no asset {name}")
        return web.Response(
            body=(WEB_DIR / name).read_bytes(),
            content_type=_ASSETS[name],
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def chart_js(self, request: web.Request) -> web.StreamResponse:
        path = Path(self.settings.chart_js) if self.settings.chart_js else CHART_JS
        if not path.is_file():
            raise ApiError(404, f"the chart library is not installed ({path}); run `make console-assets`")
        return web.FileResponse(
            path, headers={"Content-Type": "text/javascript", "Cache-Control": "max-age=3600"}
        )

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        return _json({"ok": True})

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        body, content_type = await exposition(self.collectors, request.headers.get("Accept"))
        resp = web.Response(body=body)
        resp.headers["Content-Type"] = content_type
        return resp

    # --- reads --------------------------------------------------------------------------------------
    async def whoami(self, request: web.Request) -> web.StreamResponse:
        return _json(
            {
                "remote": request.remote,
                "token_valid": bool(self._token_ok(request)),
                "changes_enabled": self._token is not None,
                "token_env": self.settings.token_env,
            }
        )

    async def status(self, request: web.Request) -> web.StreamResponse:
        return _json(views.status(self.app, time.time()))

    def _symbol(self, request: web.Request) -> str | None:
        symbol = request.query.get("symbol") or None
        if symbol is not None and self.app.instruments.get(symbol) is None:
            raise ApiError(404, f"unknown symbol {symbol!r}")
        return symbol

    @staticmethod
    def _int(request: web.Request, key: str, default: int, hi: int) -> int:
        raw = request.query.get(key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(400, f"{key}: {raw!r} is not a whole number") from None
        if not 1 <= value <= hi:
            raise ApiError(400, f"{key}: {value}; allowed: 1 to {hi}")
        return value

    async def scorecard(self, request: web.Request) -> web.StreamResponse:
        return _json(views.scorecard(self.app, time.time(), self._symbol(request)))

    async def scorecard_history(self, request: web.Request) -> web.StreamResponse:
        raw = request.query.get("since")
        since: float | None = None
        if raw:
            try:
                since = float(raw)
            except ValueError:
                raise ApiError(400, f"since: {raw!r} is not a number of seconds") from None
        limit = self._int(request, "limit", self.settings.history_size, self.settings.history_size)
        return _json(
            {
                "interval": self.settings.history_interval_s,
                "points": self.history.since(since, limit),
            }
        )

    async def sessions(self, request: web.Request) -> web.StreamResponse:
        return _json(views.sessions(self.app))

    async def orders(self, request: web.Request) -> web.StreamResponse:
        return _json(views.orders(self.app, self._int(request, "limit", 50, 1000)))

    async def decisions(self, request: web.Request) -> web.StreamResponse:
        return _json(views.decisions(self.app, self._int(request, "limit", 50, 1000)))

    async def profiles(self, request: web.Request) -> web.StreamResponse:
        card = self.app.scorecard
        return _json(
            {
                "profiles": card.settings.profiles,
                "default_profile": views.default_profile(self.app),
                "kpis": list(card.settings.kpi_names()),
            }
        )

    async def lps(self, request: web.Request) -> web.StreamResponse:
        return _json([{"lp": lp, **views.lp_status(self.app, lp)} for lp in self.app.lp_names])

    async def audit_tail(self, request: web.Request) -> web.StreamResponse:
        return _json(self.audit.tail(self._int(request, "limit", 50, 1000)))

    # --- weights: preview and apply ---------------------------------------------------------------
    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise ApiError(413, f"body over {_MAX_BODY} bytes") from None
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"the body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        return body

    def _profile(self, request: web.Request) -> str:
        name = request.match_info["name"]
        profiles = self.app.scorecard.settings.profiles
        if name not in profiles:
            raise ApiError(404, f"unknown profile {name!r}; profiles: {', '.join(profiles)}")
        return name

    def _weights(self, profile: str, body: dict[str, Any]) -> dict[str, float]:
        weights = body.get("weights")
        if not isinstance(weights, dict) or not weights:
            raise ApiError(400, 'the body must be {"weights": {"KPI": weight, ...}}')
        clean: dict[str, float] = {}
        for kpi, w in weights.items():
            if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w):
                raise ApiError(
                    400, f"profile {profile}: weight of {kpi} must be a number, got {w!r}", field=kpi
                )
            clean[str(kpi)] = float(w)
        try:
            check_weights(profile, clean, self.app.scorecard.settings.kpi_names())
        except ScorecardError as exc:
            raise ApiError(400, str(exc)) from None
        return clean

    def _ranking(
        self, profile: str, symbol: str | None, weights: dict[str, float] | None
    ) -> list[dict[str, Any]]:
        card = self.app.scorecard
        scores = card.scores(list(card.lps), symbol, profile, time.time(), weights=weights)
        return views.ranking(scores)

    async def preview(self, request: web.Request) -> web.StreamResponse:
        """The ranking with the proposed weights next to today's; nothing is applied."""
        profile = self._profile(request)
        body = await self._body(request)
        symbol = body.get("symbol") or None
        if symbol is not None and (not isinstance(symbol, str) or self.app.instruments.get(symbol) is None):
            raise ApiError(404, f"unknown symbol {symbol!r}")
        weights = self._weights(profile, body)
        current = self._ranking(profile, symbol, None)
        proposed = self._ranking(profile, symbol, weights)
        return _json(
            {
                "profile": profile,
                "symbol": symbol,
                "current": {"weights": self.app.scorecard.settings.profiles[profile], "ranking": current},
                "preview": {"weights": weights, "ranking": proposed},
                "order_changed": [r["lp"] for r in current] != [r["lp"] for r in proposed],
            }
        )

    async def set_profile(self, request: web.Request) -> web.StreamResponse:
        profile = self._profile(request)
        weights = self._weights(profile, await self._body(request))
        card = self.app.scorecard
        before = dict(card.settings.profiles[profile])
        after = {k: v for k, v in weights.items() if v}
        self._audit(request, "set_weights", profile, before, after)
        card.set_weights(profile, weights)
        logger.info("profile %s weights set by %s: %s", profile, self._token_id, after)
        return _json(
            {
                "profile": profile,
                "before": before,
                "after": card.settings.profiles[profile],
                "ranking": self._ranking(profile, None, None),
            }
        )

    # --- LPs and the kill switch ----------------------------------------------------------------
    async def set_lp(self, request: web.Request) -> web.StreamResponse:
        lp = request.match_info["name"]
        app = self.app
        if lp not in app.lp_names:
            raise ApiError(404, f"unknown LP {lp!r}; LPs: {', '.join(app.lp_names)}")
        body = await self._body(request)
        enabled = body.get("enabled")
        if not isinstance(enabled, bool):
            raise ApiError(400, 'the body must be {"enabled": true} or {"enabled": false}')
        before = {"enabled": lp not in app.disabled}
        after = {"enabled": enabled}
        self._audit(request, "enable_lp" if enabled else "disable_lp", lp, before, after)
        if enabled:
            app.disabled.discard(lp)
        else:
            app.disabled.add(lp)
        return _json({"lp": lp, "before": before, **views.lp_status(app, lp)})

    def _kill_scope(self, raw: object) -> tuple[str, Any]:
        """The API's scope ("all", "session:NAME", "lp:NAME") and the risk engine's."""
        app = self.app
        if raw is None or raw == "all":
            return "all", "all"
        if isinstance(raw, str) and ":" in raw:
            kind, _, name = raw.partition(":")
            if kind == "lp" and name in app.lp_names:
                return raw, ("lp", name)
            if kind == "session":
                for sid, session in app.oms_sessions.items():
                    if name in (sid, session.settings.name):
                        # the risk engine names OMS sessions by their Name
                        return f"session:{session.settings.name}", ("session", session.settings.name)
        names = [f"session:{s.settings.name}" for s in app.oms_sessions.values()]
        names += [f"lp:{lp}" for lp in app.lp_names]
        raise ApiError(400, f"scope: {raw!r}; allowed: all, {', '.join(names)}")

    async def kill(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        engaged = body.get("engaged")
        if not isinstance(engaged, bool):
            raise ApiError(400, '"engaged" must be true (engage) or false (release)')
        label, scope = self._kill_scope(body.get("scope", "all"))
        reason = body.get("reason", "")
        if not isinstance(reason, str) or len(reason) > _MAX_REASON:
            raise ApiError(400, f'"reason" must be text of at most {_MAX_REASON} characters')
        reason = reason.strip()
        if engaged and not reason:
            raise ApiError(400, 'engaging the kill switch needs a "reason" (it goes into Text(58))')
        app = self.app
        before = app.risk.kill_switches()
        text = f"console: {reason}" if reason else "console"
        key = scope if scope == "all" else f"{scope[0]}:{scope[1]}"  # as kill_switches() names it
        after = dict(before)
        if engaged:
            after[key] = text
        else:
            after.pop(key, None)
        self._audit(request, "kill_engage" if engaged else "kill_release", label, before, after)
        app.kill(engaged, text, scope)
        return _json(
            {"scope": label, "engaged": engaged, "before": before, "kill_switches": app.risk.kill_switches()}
        )

    def _audit(self, request: web.Request, action: str, target: str, before: Any, after: Any) -> None:
        try:
            self.audit.write(self.who(request), action, target, before, after, time.time())
        except OSError as exc:
            logger.error("audit log not written, change refused: %s", exc)
            raise ApiError(503, f"the audit log could not be written ({exc}); nothing was changed") from None
