"""Reserved coder names, importable without the database layer (the command line's writers need
them; loading SQLAlchemy and FastAPI for two strings would slow every command's start)."""

from __future__ import annotations

# The name under which the model's suggestions appear as a coder (in exports and agreement);
# no person may take it.
MODEL_USER = "precode model"
# the name under which the project's consensus appears in exports
CONSENSUS_USER = "precode consensus"
