"""Triggers the triggerer runs for the package's deferrable tasks (imported by class path, so they live here)."""
