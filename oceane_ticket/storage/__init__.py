"""Storage: models, the statements of each consumer, the producer's fast path, engines and migrations.

``models`` (SQLModel), ``claims`` (the request's state machine: claim, lock-token fence, outcome),
``writebacks`` (the alarm write-back's and the status poll's statements), ``reads`` (what reports
and commands show), ``clock`` (UTC of stored rows), ``direct`` (the producer's plain DB-API path),
``db`` (engines, sessions, ``upgrade``), ``retention`` and ``migrations`` (Alembic).
"""
