"""FIX session layer: sans-I/O session, stores, transport, message log."""
