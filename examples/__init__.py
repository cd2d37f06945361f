"""Example workflows (YAML) and the small functions their ``python`` steps call."""
