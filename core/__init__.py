"""Synapse's engine: never imports a UI library (docs/ARCHITECTURE.md, "Layers")."""
