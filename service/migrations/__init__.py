"""Alembic migrations of the service database (applied by ``service.db.session.upgrade``)."""
