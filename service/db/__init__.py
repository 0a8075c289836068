"""The service's database: SQLAlchemy 2 models (:mod:`service.db.models`) and engine, sessions and
migrations (:mod:`service.db.session`)."""
