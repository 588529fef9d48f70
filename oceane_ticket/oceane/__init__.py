"""The Oceane side: wire contract client (no Celery), error classification and the ticket payload."""
