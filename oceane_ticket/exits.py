"""The exit statuses of every ``oceane-ticket`` command, the one table of them.

The alarm hook script and operators' scripts read these; the commands (``cli/``) and the debug
page's start-up (``worker/flower.py``) return them.
"""

OK = 0
PROBLEM = 1  # the command ran and found something wrong: a failed check, a refused retry, `lookup`: no ticket
USAGE = 2  # bad input (an option, an answer, a field of the alarm), named; nothing stored or queued
TICKET_FAILED = 3  # `create --wait`: Oceane refused the ticket for good
UNAVAILABLE = 4  # Redis or the database could not be reached (or has no schema yet)
STILL_PENDING = 5  # `create --wait`: the wait ran out; the worker goes on with the ticket
BAD_SETTING = 78  # sysexits' EX_CONFIG: a bad setting is not the operator's input error (2)
INTERRUPTED = 130  # Ctrl-C, as a shell reports a command killed by SIGINT (128 + 2)
