"""The review and calibration console: HTTP server, admin API and web page (see ``server``)."""

from gateway.console.server import ConsoleServer
from gateway.console.settings import ConsoleConfigError, ConsoleSettings

__all__ = ["ConsoleConfigError", "ConsoleServer", "ConsoleSettings"]
