"""Storage: models, the statements of each consumer, the producer's fast path, engines and migrations.

``models`` (SQLModel, and the tables as Core sees them), ``claims`` (the request's state machine:
claim, lock-token fence, outcome), ``writebacks`` (the alarm write-back's and the status poll's
statements), ``reads`` (what reports and commands show), ``alarm_events``, ``clock`` (UTC of stored
rows), ``direct`` (the producer's plain DB-API path), ``db`` (engines, sessions, ``upgrade``),
``retention`` and ``migrations`` (Alembic).

One style of SQL: SQLAlchemy Core statements on ``models.TICKETS`` and ``models.FAILURES``, built
once at import with bound parameters (SQLAlchemy caches their compiled form, so a call only binds
and sends), whose rows come back as detached models the caller reads. An ORM statement built per
call and run through the ORM's machinery cost about 2 ms of CPU each, most of the worker's own time
per ticket (bench row 4). The one exception is ``direct``, plain SQL text on DB-API: the producer
runs once per operator click, so its cold start is its latency, and importing SQLAlchemy and
SQLModel would triple it and cost most of its memory (bench rows 1, 2 and 8, docs/performance.md).
"""
