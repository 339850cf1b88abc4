"""The asyncio side of the session layer: acceptors, initiators, timers, flushing.

This is the only module of the layer that touches sockets or the event loop. It feeds
bytes and the time into ``Session`` objects, hands their events to the ``Application``,
and writes what they produce — after the store has written it (group commit per
event-loop callback: one store write, one socket write per session per callback).

- One acceptor port serves many sessions; a connection is bound to its session by the
  CompIDs of its Logon. An unknown session gets a Logout with a reason and is closed; a
  second connection for a session that already has one is closed.
- Initiators reconnect with exponential backoff (ReconnectInterval .. ReconnectMaxInterval).
- Optional TLS on both sides through standard ``ssl`` contexts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from gateway.fix.codec import Framer, Garbled, Message, ParseError, encode, parse
from gateway.fix.dictionary import DataDictionary
from gateway.fix.tags import MsgType
from gateway.fix.timeutil import utc_timestamp
from gateway.sessions.log import FileLog, NullLog, log_file_prefix
from gateway.sessions.schedule import SessionSchedule
from gateway.sessions.session import Session, SessionEvent
from gateway.sessions.store import FileStore, MemoryStore

logger = logging.getLogger("fixgw.transport")


class Application(Protocol):
    """What the engine calls; every call happens on the event loop, never concurrently."""

    def on_logon(self, session: Session, now: float) -> None: ...

    def on_logout(self, session: Session, now: float) -> None: ...

    def on_message(self, session: Session, msg: Message, now: float) -> None: ...

    def on_session_event(self, session: Session, event: SessionEvent, now: float) -> None: ...


class BaseApplication:
    """An Application that does nothing; subclass what you need."""

    def on_logon(self, session: Session, now: float) -> None:
        """Called when the session is logged on."""

    def on_logout(self, session: Session, now: float) -> None:
        """Called when the session is logged out or disconnected."""

    def on_message(self, session: Session, msg: Message, now: float) -> None:
        """Called for each application message, in sequence."""

    def on_session_event(self, session: Session, event: SessionEvent, now: float) -> None:
        """Called for session events other than logon/logout."""

    def on_end_of_session(self, session: Session, now: float) -> None:
        """Called at the session's EndTime, just before it logs out."""


@dataclass
class _SessionRuntime:
    session: Session
    log: FileLog | NullLog
    schedule: SessionSchedule
    connection: FixConnection | None = None
    initiator_task: asyncio.Task[None] | None = None
    ssl_context: ssl.SSLContext | None = None


def make_ssl_context(settings: object, server_side: bool) -> ssl.SSLContext:
    """A TLS context from SSLCertificate / SSLPrivateKey / SSLCACertificate settings."""
    cert = getattr(settings, "ssl_certificate", None)
    key = getattr(settings, "ssl_private_key", None)
    ca = getattr(settings, "ssl_ca_certificate", None)
    if server_side:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        if cert:
            ctx.load_cert_chain(cert, key)
        if ca:
            ctx.load_verify_locations(ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
        ctx.check_hostname = bool(getattr(settings, "ssl_check_hostname", True))
        if cert:
            ctx.load_cert_chain(cert, key)
    return ctx


class FixConnection(asyncio.Protocol):
    """One TCP connection; bound to a session at Logon (acceptor) or from the start."""

    def __init__(
        self, engine: Engine, runtime: _SessionRuntime | None, port: int | None = None
    ) -> None:
        self.engine = engine
        self.runtime = runtime
        self.port = port
        self.transport: asyncio.Transport | None = None
        self._pending = b""
        self._framer: Framer | None = None
        self._logon_timer: asyncio.TimerHandle | None = None
        self.closed = asyncio.get_running_loop().create_future()

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; they have the same API
        self.transport = transport  # type: ignore[assignment]
        with contextlib.suppress(OSError, AttributeError):
            sock = transport.get_extra_info("socket")
            if sock is not None:
                import socket

                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.runtime is not None:
            self.engine._bind(self, self.runtime, time.time())
        else:
            loop = asyncio.get_running_loop()
            self._framer = Framer(self.engine.max_message_size)
            self._logon_timer = loop.call_later(self.engine.logon_timeout, self._logon_timeout)

    def _logon_timeout(self) -> None:
        if self.runtime is None and self.transport is not None:
            logger.info("no Logon within %ss; closing", self.engine.logon_timeout)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        # when these bytes arrived, for the application's internal-latency histograms
        self.engine.input_ns = time.perf_counter_ns()
        runtime = self.runtime
        now = time.time()
        if runtime is None:
            runtime = self._identify(data, now)
            if runtime is None:
                return
            data = self._pending
            self._pending = b""
        engine = self.engine
        session = runtime.session
        try:
            events = session.receive(data, now)
        except Exception:  # a bug must not take the process down: log, drop the link
            logger.exception("session %s failed on input; disconnecting", session.session_id)
            session.close_requested = True
            events = []
        if events:
            engine._dispatch(runtime, events, now)
        # group commit: what this callback received (target sequence) and sent reaches the
        # store before the socket; a message handed to the application is never asked for again.
        # The application's own records (its journal) go first: nothing a store says was
        # received or sent may be missing from them.
        for hook in engine.before_store_flush:
            hook()
        session.store.flush()
        log = runtime.log
        if type(log) is not NullLog:
            log.flush()
        engine.flush()
        if session.close_requested:
            self._close()

    def _identify(self, data: bytes, now: float) -> _SessionRuntime | None:
        """Find the session for the first (Logon) message of an accepted connection."""
        assert self._framer is not None and self.transport is not None
        self._pending += data
        frames = self._framer.feed(data)
        if not frames:
            if len(self._pending) > self.engine.max_message_size:
                self._close()
            return None
        first = frames[0]
        if isinstance(first, Garbled):
            logger.info("garbled first message on port %s; closing: %s", self.port, first.reason)
            self._close()
            return None
        try:
            msg = parse(first)
        except ParseError:
            self._close()
            return None
        if msg.msg_type != MsgType.LOGON:
            logger.info("first message is not a Logon (35=%r); closing", msg.msg_type)
            self._close()
            return None
        begin = msg.get(8, b"") or b""
        theirs = msg.get(49, b"") or b""
        ours = msg.get(56, b"") or b""
        runtime = self.engine._acceptor_sessions.get((self.port, begin, ours, theirs))
        if runtime is None:
            sid = b"%s:%s->%s" % (begin, ours, theirs)
            text = f"Unknown session {sid.decode('latin-1')}"
            logger.info("%s; closing", text)
            self._send_out_of_session_logout(msg, text, now)
            self._close()
            return None
        if runtime.connection is not None:
            runtime.log("event", "refused a second connection: session already connected")
            runtime.log.flush()
            self._close()
            return None
        if not runtime.schedule.is_in_session(now):
            text = "Logon outside the session schedule"
            runtime.log("event", text)
            self._send_out_of_session_logout(msg, text, now)
            self._close()
            return None
        if self._logon_timer is not None:
            self._logon_timer.cancel()
        self.runtime = runtime
        self.engine._bind(self, runtime, now)
        return runtime

    def _send_out_of_session_logout(self, logon: Message, text: str, now: float) -> None:
        assert self.transport is not None
        body = (
            b"35=5\x0134=1\x0149="
            + (logon.get(56) or b"?")
            + b"\x0152="
            + utc_timestamp(now)
            + b"\x0156="
            + (logon.get(49) or b"?")
            + b"\x0158="
            + text.encode("latin-1", "replace")
            + b"\x01"
        )
        self.transport.write(encode(logon.get(8) or b"FIX.4.4", body))

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._logon_timer is not None:
            self._logon_timer.cancel()
        runtime = self.runtime
        if runtime is not None and runtime.connection is self:
            self.engine._unbind(runtime, time.time())
        if not self.closed.done():
            self.closed.set_result(None)


class Engine:
    """Runs FIX sessions on one event loop for one Application."""

    def __init__(self, application: Application) -> None:
        self.application = application
        self._runtimes: dict[str, _SessionRuntime] = {}
        self._acceptor_sessions: dict[tuple[int | None, bytes, bytes, bytes], _SessionRuntime] = {}
        self._servers: list[asyncio.base_events.Server] = []
        self._dirty: list[Session] = []
        self._timer_task: asyncio.Task[None] | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self.running = False
        self._stopped = False
        self.input_ns = 0  # perf_counter_ns() at the start of the current data_received
        # called before session stores are written (e.g. the application's journal flush)
        self.before_store_flush: list[Callable[[], None]] = []
        self.max_message_size = 1 << 20
        self.logon_timeout = 10.0
        self.tick = 0.5
        self.ports: dict[str, int] = {}  # session name -> bound acceptor port

    # --- set-up ----------------------------------------------------------------------
    def add_session(
        self,
        settings: object,
        *,
        store: MemoryStore | FileStore | None = None,
        dictionary: DataDictionary | None = None,
        environ: dict[str, str] | None = None,
    ) -> Session:
        """Create a session from SessionSettings (gateway.config)."""
        from gateway.config import SessionSettings

        assert isinstance(settings, SessionSettings)
        if store is None:
            if settings.use_memory_store:
                store = MemoryStore()
            else:
                store = FileStore(
                    settings.file_store_path, settings.session_id, settings.file_store_sync
                )
        if dictionary is None and settings.data_dictionary and settings.use_data_dictionary:
            dictionary = DataDictionary.load(settings.data_dictionary)
        log: FileLog | NullLog
        if settings.log_messages:
            prefix = log_file_prefix(
                settings.begin_string,
                settings.sender_comp_id,
                settings.target_comp_id,
                settings.session_qualifier,
            )
            log = FileLog(settings.file_log_path, prefix)
        else:
            log = NullLog()
        secret = settings.password(environ) if settings.password_env else None
        session = Session(
            settings,
            store,
            dictionary,
            password=secret if settings.connection_type == "initiator" else None,
            expected_password=secret if settings.connection_type == "acceptor" else None,
            log=None if isinstance(log, NullLog) else log,  # no call per message to discard it
        )
        session.on_outbound = self._mark_dirty
        schedule = SessionSchedule(
            settings.start_time,
            settings.end_time,
            settings.start_day,
            settings.end_day,
            settings.time_zone,
        )
        runtime = _SessionRuntime(session, log, schedule)
        if settings.socket_use_ssl:
            runtime.ssl_context = make_ssl_context(
                settings, server_side=settings.connection_type == "acceptor"
            )
        self._runtimes[settings.session_id] = runtime
        self.max_message_size = max(self.max_message_size, settings.max_message_size)
        self.logon_timeout = float(settings.logon_timeout)
        # a store from an earlier session period starts afresh (QuickFIX semantics)
        if not schedule.is_same_session(store.creation_time, time.time()):
            store.reset()
        return session

    def session(self, session_id: str) -> Session:
        return self._runtimes[session_id].session

    @property
    def sessions(self) -> list[Session]:
        return [r.session for r in self._runtimes.values()]

    async def start(self) -> None:
        """Open acceptor ports, start initiators and the timers."""
        loop = asyncio.get_running_loop()
        self.running = True
        by_port: dict[tuple[str, int], list[_SessionRuntime]] = {}
        for runtime in self._runtimes.values():
            s = runtime.session.settings
            if s.connection_type == "acceptor":
                key = (s.socket_accept_host, s.socket_accept_port or 0)
                by_port.setdefault(key, []).append(runtime)
        for (host, port), runtimes in by_port.items():
            contexts = {id(r.ssl_context): r.ssl_context for r in runtimes}
            if len(contexts) > 1:
                raise ValueError(f"sessions on port {port} disagree on TLS settings")
            ctx = runtimes[0].ssl_context
            bound: list[int] = []

            def factory(port_ref: list[int] = bound) -> FixConnection:
                return FixConnection(self, None, port_ref[0] if port_ref else None)

            server = await loop.create_server(factory, host, port, ssl=ctx, reuse_address=True)
            actual = server.sockets[0].getsockname()[1]
            bound.append(port)
            self._servers.append(server)
            for r in runtimes:
                ss = r.session.settings
                self._acceptor_sessions[
                    (
                        port,
                        ss.begin_string.encode(),
                        ss.sender_comp_id.encode(),
                        ss.target_comp_id.encode(),
                    )
                ] = r
                self.ports[ss.session_id] = actual
        for runtime in self._runtimes.values():
            if runtime.session.initiator:
                runtime.initiator_task = loop.create_task(self._run_initiator(runtime))
        self._timer_task = loop.create_task(self._timer_loop())
        self._sync_task = loop.create_task(self._sync_loop())

    async def stop(self, timeout: float = 2.0) -> None:
        """Log out every logged-on session, wait for the replies, close everything."""
        if self._stopped:
            return
        self._stopped = True
        self.running = False
        now = time.time()
        for runtime in self._runtimes.values():
            if runtime.connection is not None and runtime.session.logged_on:
                runtime.session.logout(now, "gateway shutting down")
        self.flush()
        waits = [r.connection.closed for r in self._runtimes.values() if r.connection is not None]
        if waits:
            await asyncio.wait(waits, timeout=timeout)
        for runtime in self._runtimes.values():
            if runtime.connection is not None:
                runtime.connection._close()
            if runtime.initiator_task is not None:
                runtime.initiator_task.cancel()
        for task in (self._timer_task, self._sync_task):
            if task is not None:
                task.cancel()
        for server in self._servers:
            server.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        await asyncio.sleep(0)
        for runtime in self._runtimes.values():
            runtime.session.store.close()
            runtime.log.close()

    # --- binding connections to sessions ----------------------------------------------
    def _bind(self, conn: FixConnection, runtime: _SessionRuntime, now: float) -> None:
        runtime.connection = conn
        session = runtime.session
        if not runtime.schedule.is_same_session(session.store.creation_time, now):
            session.store.reset(now)
        session.on_connect(now)
        self.flush()

    def _unbind(self, runtime: _SessionRuntime, now: float) -> None:
        session = runtime.session
        was_logged_on = session.logged_on or session.state == "logout_sent"
        runtime.connection = None
        events = session.on_disconnect(now)
        session.data_to_send()  # nothing can be sent any more
        self._dispatch(runtime, events, now)
        if was_logged_on:
            try:
                self.application.on_logout(session, now)
            except Exception:
                logger.exception("application on_logout failed")
        for hook in self.before_store_flush:
            hook()
        session.store.flush()
        runtime.log.flush()

    # --- dispatch and flush --------------------------------------------------------------
    def _mark_dirty(self, session: Session) -> None:
        self._dirty.append(session)

    def _dispatch(
        self, runtime: _SessionRuntime, events: list[Message | SessionEvent], now: float
    ) -> None:
        app = self.application
        session = runtime.session
        for event in events:
            try:
                if type(event) is Message:
                    app.on_message(session, event, now)
                else:
                    assert isinstance(event, SessionEvent)
                    if event.kind == "logon":
                        app.on_logon(session, now)
                    elif event.kind != "disconnect":
                        app.on_session_event(session, event, now)
            except Exception:
                logger.exception(
                    "application failed on %s for %s", type(event).__name__, session.session_id
                )

    def flush(self) -> None:
        """Write the application's records, then stores, then sockets (one group commit)."""
        dirty = self._dirty
        if dirty:
            for hook in self.before_store_flush:
                hook()
        while dirty:
            batch = list(dirty)
            dirty.clear()
            for session in batch:
                session.store.flush()
            for session in batch:
                runtime = self._runtimes[session.session_id]
                data = session.data_to_send()
                conn = runtime.connection
                if (
                    data
                    and conn is not None
                    and conn.transport is not None
                    and not conn.transport.is_closing()
                ):
                    conn.transport.write(data)
                log = runtime.log
                if type(log) is not NullLog:
                    log.flush()
                if session.close_requested and conn is not None:
                    conn._close()

    def send(self, session: Session, msg_type: bytes, body: bytes, header: bytes = b"") -> int:
        """Send an application message now (from outside a session callback)."""
        seq = session.send(msg_type, body, time.time(), header)
        self.flush()
        return seq

    # --- timers ---------------------------------------------------------------------------
    async def _timer_loop(self) -> None:
        while self.running:
            await asyncio.sleep(self.tick)
            now = time.time()
            for runtime in list(self._runtimes.values()):
                session = runtime.session
                conn = runtime.connection
                if conn is None:
                    continue
                try:
                    if not runtime.schedule.is_in_session(now) and session.logged_on:
                        end = getattr(self.application, "on_end_of_session", None)
                        if end is not None:
                            end(session, now)  # e.g. DAY orders expire, reported before the Logout
                        session.logout(now, "End of session")
                    events = session.on_timer(now)
                except Exception:
                    logger.exception("session timer failed for %s", session.session_id)
                    session.close_requested = True
                    events = []
                if events:
                    self._dispatch(runtime, events, now)
                for hook in self.before_store_flush:
                    hook()
                session.store.flush()
                runtime.log.flush()
                if session.close_requested:
                    conn._close()
            self.flush()

    async def _sync_loop(self) -> None:
        intervals = [
            r.session.settings.file_store_sync_interval_ms / 1000
            for r in self._runtimes.values()
            if isinstance(r.session.store, FileStore) and r.session.store.sync_policy == "interval"
        ]
        if not intervals:
            return
        period = min(intervals)
        while self.running:
            await asyncio.sleep(period)
            for runtime in self._runtimes.values():
                store = runtime.session.store
                if isinstance(store, FileStore) and store.sync_policy == "interval":
                    try:
                        await asyncio.to_thread(store.sync)
                    except OSError:
                        logger.exception("fsync failed for %s", runtime.session.session_id)

    async def _run_initiator(self, runtime: _SessionRuntime) -> None:
        loop = asyncio.get_running_loop()
        settings = runtime.session.settings
        delay = float(settings.reconnect_interval)
        host = settings.socket_connect_host
        port = settings.socket_connect_port or 0
        while self.running:
            now = time.time()
            if not runtime.schedule.is_in_session(now):
                await asyncio.sleep(1.0)
                continue
            logged_on = False
            try:
                conn = FixConnection(self, runtime)
                await loop.create_connection(
                    lambda c=conn: c,
                    host,
                    port,
                    ssl=runtime.ssl_context,
                    server_hostname=settings.socket_connect_host if runtime.ssl_context else None,
                )
                runtime.log(
                    "event",
                    f"connected to {settings.socket_connect_host}:{settings.socket_connect_port}",
                )
                await conn.closed
                logged_on = runtime.session.received_logon
            except OSError as exc:
                runtime.log(
                    "event",
                    f"connection to {host}:{port} failed: {exc}",
                )
            except asyncio.CancelledError:
                raise
            runtime.log.flush()
            if not self.running:
                break
            if logged_on:
                delay = float(settings.reconnect_interval)
            await asyncio.sleep(delay)
            if not logged_on:
                delay = min(delay * 2, float(settings.reconnect_max_interval))

    def in_session(self, session_id: str, now: float) -> bool:
        """Is ``now`` inside the session's schedule (StartTime/EndTime)?"""
        return self._runtimes[session_id].schedule.is_in_session(now)

    def connected_sessions(self) -> list[Session]:
        return [r.session for r in self._runtimes.values() if r.connection is not None]
