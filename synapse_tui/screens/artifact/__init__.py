"""The artifact viewer: one of a run's files shown in place (screen.py; what to show, reading.py)."""

from synapse_tui.screens.artifact.screen import ArtifactScreen

__all__ = ["ArtifactScreen"]
