"""FIX wire format without I/O: tags and enums, codec, data dictionary."""
