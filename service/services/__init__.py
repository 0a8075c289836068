"""Keyword-only service functions, kept apart from the routes: each takes the database
``session`` and what it works on, and raises :class:`service.problems.Problem` or
:class:`corpus.errors.PrecodeInputError` for what the caller must hear about."""
