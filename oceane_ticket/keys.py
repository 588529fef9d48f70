"""Every Redis key the service uses, in one place, each with why it exists.

Redis holds nothing that cannot be rebuilt: the database is the record of every request, and Redis
only carries work to do (queue), who is doing it (lock) and a cache (token). Losing Redis loses at
most some latency: the sweep re-enqueues from the database.
"""

PREFIX = "oceane:"

# The Celery queue (a Redis list) that carries ticket jobs. A dedicated name rather than Celery's
# "celery" so that our messages never mix with another app sharing the Redis database. The list
# key is the queue name itself: that is how kombu's Redis transport names it (priority 0).
# The queue name is a setting (OCEANE_QUEUE); this is its default.
DEFAULT_QUEUE = "oceane.tickets"

# The connector's "Ticket Queue Processing Lock": one ticket in flight against Oceane at a time,
# across all workers. Its value is JSON {token, worker, instance, since}: the token makes release
# and fencing owner-only, the rest is what `oceane-ticket status` shows. It carries a TTL so that
# a holder that died frees it.
PROCESSING_LOCK = PREFIX + "lock:processing"

# The OAuth2 access token shared by every worker process until shortly before it expires, so
# Oceane sees one token request per lifetime rather than one per call. This is the only key that
# ever holds a secret.
TOKEN_CACHE = PREFIX + "token"

# Marker set, with a TTL of OCEANE_STALE_AFTER, whenever a job for a request is put on the queue
# (by the producer, the sweep or `retry`). The sweep only re-enqueues a request whose marker has
# lapsed, so a slow queue is not flooded with copies; copies would be harmless (the worker is
# idempotent) but noisy.
ENQUEUED_MARKER = PREFIX + "enqueued:"  # + instance


def enqueued_marker(instance: str) -> str:
    """The marker key for one request."""
    return ENQUEUED_MARKER + instance

# A running Celery worker's heartbeat: "oceane:worker:<node>", refreshed every
# WORKER_HEARTBEAT_EVERY seconds by the worker's main process with a TTL of WORKER_HEARTBEAT_TTL.
# <node> is host:pid:random, fresh at each start: a container restarted in place keeps its hostname
# and its PIDs, and must not vouch for the worker that died in it. The processing lock and kombu's
# unacked messages name the node that holds them, so a key that has lapsed says their holder is
# gone: the lock can be broken (writes are fenced on its token) and the messages put back at once,
# rather than after the lock's TTL and kombu's visibility timeout. Prefork children die with their
# parent (Celery sets PDEATHSIG), so a dead main process means no task of it is still running.
WORKER_HEARTBEAT = PREFIX + "worker:"  # + node
WORKER_HEARTBEAT_TTL = 10.0
WORKER_HEARTBEAT_EVERY = 3.0

# Which node received each message kombu holds unacked: a hash delivery tag -> node, written
# beside kombu's own "unacked" hash (whose entries do not say who took them) and removed with it.
UNACKED_OWNERS = PREFIX + "unacked:owners"


def worker_heartbeat(node: str) -> str:
    """The heartbeat key of one worker node."""
    return WORKER_HEARTBEAT + node
