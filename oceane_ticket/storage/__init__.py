"""Storage: SQLModel models (``models``), the worker's and reports' queries (``queries``), the
producer's DB-API fast path (``direct``), engines (``db``) and Alembic migrations."""
