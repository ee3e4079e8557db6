"""One Click command (or group) per module; `bench.cli` assembles them."""
