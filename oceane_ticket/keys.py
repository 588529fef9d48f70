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

# OCEANE_LOCK_SCOPE=alarm: one lock per alarm instead of the global one (+ "dma/element/alarm").
# Tickets for different alarms then go to Oceane in parallel, while two jobs for one alarm (a copy
# re-sent by the sweep, a retry) still never run at once: the lookup-before-create that keeps an
# alarm to one Oceane ticket needs its alarm's requests to run one after the other. Same value and
# TTL as the global lock.
ALARM_LOCK = PREFIX + "lock:alarm:"


def alarm_lock(dma_id: int, element_id: int, alarm_id: int) -> str:
    """The per-alarm processing lock key (OCEANE_LOCK_SCOPE=alarm)."""
    return f"{ALARM_LOCK}{dma_id}/{element_id}/{alarm_id}"


# A lock's wake-up list (+ ":wakeup" on the lock key): its holder's release pushes one entry, and a
# worker waiting for the lock blocks on the list (BLPOP) instead of sleeping between polls, so the
# lock passes on within a round trip. It holds at most one entry and expires with the lock's TTL.
def lock_wakeup(lock_key: str) -> str:
    """The wake-up list of the lock at ``lock_key``."""
    return lock_key + ":wakeup"


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
