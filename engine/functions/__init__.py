"""Small functions that ``python`` steps may call out of the box (allowlisted by default)."""
