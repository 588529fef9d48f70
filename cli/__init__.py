"""The ``oceane-ticket`` command: the composition root that wires the library, producer and worker.

Nothing imports this package but the console script (``cli.main:main``); the library
(``oceane_ticket``) never does. Each module is one noun of the command line and imports only the
standard library at import time, since the parser is built for every ``create``.
"""
