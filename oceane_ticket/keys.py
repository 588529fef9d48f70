"""Every Redis key the service uses, in one place, each with why it exists.

Redis holds nothing that cannot be rebuilt: the database is the record of every request, and Redis
only carries work to do (queue), who is doing it (lock) and a cache (token). Losing Redis loses at
most some latency: the sweep re-enqueues from the database.
"""

from oceane_ticket.request import external_id

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
    return ALARM_LOCK + external_id(dma_id, element_id, alarm_id)  # the alarm named as everywhere else


# A lock's wake-up list (+ ":wakeup" on the lock key): its holder's release pushes one entry, and a
# worker waiting for the lock blocks on the list (BLPOP) instead of sleeping between polls, so the
# lock passes on within a round trip. It holds at most one entry and expires with the lock's TTL.
WAKEUP_SUFFIX = ":wakeup"

# One lock per ticket (+ the request's instance) under which its alarm events are applied: a
# ticket's events go to Oceane one at a time and in order, while other tickets' events go on in
# parallel. Same value, TTL and fencing as the processing lock.
EVENTS_LOCK = PREFIX + "lock:events:"


def events_lock(instance: str) -> str:
    """The per-ticket lock under which its alarm events are applied."""
    return EVENTS_LOCK + instance


def lock_wakeup(lock_key: str) -> str:
    """The wake-up list of the lock at ``lock_key``."""
    return lock_key + WAKEUP_SUFFIX


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


# The same idea for the alarm write-back: set with a TTL of OCEANE_STALE_AFTER whenever a write-back
# job is queued, so the write-back sweep sends one copy per period however long a job waits.
WRITEBACK_MARKER = PREFIX + "writeback-enqueued:"  # + instance


def writeback_marker(instance: str) -> str:
    """The write-back marker key for one ticket."""
    return WRITEBACK_MARKER + instance


# --- kombu's Redis transport: keys we do not name but read (``status`` and the metrics gauges) ---

# Every message delivered to a worker and not yet acknowledged sits in this hash until the ack, as
# JSON ``[message, exchange, routing_key]``. acks_late keeps a running job there, and a retry's
# message stays there for its whole countdown, so "unacked" counts jobs in hand, not only running.
# kombu's own name (``Channel.unacked_key``), shared by every queue of the Redis database.
KOMBU_UNACKED = "unacked"

# kombu emulates message priorities with one list per priority band: the queue name itself for
# band 0, and queue + this separator + the band for the others. We send at priority 0, but a
# message re-published with a priority would land in one of these lists, so the queue depth sums
# them all. Separator and bands are kombu's (``PRIORITY_STEPS`` and ``sep`` of its Redis Channel).
KOMBU_PRIORITY_SEP = "\x06\x16"
KOMBU_PRIORITY_STEPS = (3, 6, 9)


def priority_list(queue: str, band: int) -> str:
    """The Redis list kombu reads for priority ``band`` of ``queue`` (band 0 is the queue itself)."""
    return queue if band == 0 else f"{queue}{KOMBU_PRIORITY_SEP}{band}"


def queue_lists(queue: str) -> list[str]:
    """Every Redis list kombu may hold ``queue``'s waiting messages in (one per priority band)."""
    return [queue, *(f"{queue}{KOMBU_PRIORITY_SEP}{step}" for step in KOMBU_PRIORITY_STEPS)]


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


# The id of our listener registration at Oceane's hub (TMF621 ``POST /hub`` answers it), so that
# ``hub unregister`` can delete it and the scheduled check registers only when none is known.
HUB_REGISTRATION = PREFIX + "hub:registration"
# Held (SET NX, with a TTL) while a registration is being made: two workers running the scheduled
# check at once must not register two listeners, which would push every change twice.
HUB_REGISTERING = PREFIX + "hub:registering"

# The reconcile's last run (oceane_ticket/reconcile.py), JSON {at, checked, active, gone, unknown,
# reasons, cursor}: what `status` and the metrics show of it, and where the next run goes on (the
# instance after ``cursor``), so that a batch smaller than the open tickets still reaches every one in
# turn. No TTL: it is one small value, and losing it (Redis restarted empty) only restarts the rotation.
RECONCILE_LAST = PREFIX + "reconcile:last"
