"""Sub-commands of ``kato`` (each module's ``register(app)`` is called by kato/cli.py)."""
