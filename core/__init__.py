"""The lowest layer: what every other layer may use and what imports nothing of ours."""
