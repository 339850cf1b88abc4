"""LP simulators and OMS load generator, built on the same codec and session layer."""
