"""Sub-command groups of `synapse` (one Typer app per module, added in synapse_tui/cli.py)."""
