"""Storage: models, queries, the producer's fast path, engines and migrations.

``models`` (SQLModel), ``queries`` (the worker's and reports'), ``direct`` (the producer's plain
DB-API path), ``db`` (engines, sessions, ``upgrade``), ``retention`` and ``migrations`` (Alembic).
"""
