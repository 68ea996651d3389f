"""Deferrable waits of the model pipelines: they hold no worker slot while they wait."""
