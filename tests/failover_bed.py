"""A replicated Redis and PostgreSQL on loopback that the failover tests (and the soak) start themselves.

* :class:`RedisSentinelSet`: a master, one replica and three Sentinels, all ``redis-server`` processes
  on free ports, monitoring the master under :data:`MASTER_NAME`. ``kill_master`` SIGKILLs it and
  waits until the Sentinels have promoted the replica.
* :class:`PostgresPair`: a primary and a streaming standby (``initdb``, ``pg_basebackup -R``,
  ``pg_ctl``) run as the ``postgres`` user (the tests run as root and PostgreSQL refuses root),
  data directories under /tmp. The primary names every standby synchronous
  (``synchronous_standby_names = '*'``) but its own default is ``synchronous_commit = local``: only
  what our connections ask for waits for the standby, so removing that protection shows.
  ``pause_shipping`` stops the standby's WAL receiver, so what the primary commits from then on is
  exactly what a failover loses; ``stop_primary`` and ``promote`` are the failover.

No containers; Debian's ``redis-server`` and ``postgresql`` packages (``.ci/run`` installs them if missing).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from oceane_ticket import processes
from tests.conftest import service_missing, wait_until
from tests.faults.services import free_port

MASTER_NAME = "oceane"

# Sentinel's timings: a master silent for a second is down, a failover takes a few seconds.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 4000


def _redis_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        service_missing("redis-server binary", "install Debian's redis-server package (.ci/run does)")
    return str(found)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        service_missing(f"PostgreSQL's {name}", "install Debian's postgresql package (.ci/run does)")
    return found[-1]


class RedisSentinelSet:
    """A Redis master, a replica and three Sentinels on free loopback ports."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="oceane-sentinel-"))
        self.binary = _redis_binary()
        self.servers: dict[int, subprocess.Popen[bytes]] = {}
        self.sentinels: dict[int, subprocess.Popen[bytes]] = {}

    # --- lifecycle ---

    def start(self) -> RedisSentinelSet:
        master = free_port()
        self._server(master)
        replica = free_port()
        self._server(replica, "--replicaof", "127.0.0.1", str(master))
        for _ in range(3):
            port = free_port()
            conf = self.workdir / f"sentinel-{port}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            log = open(self.workdir / f"sentinel-{port}.log", "ab")  # noqa: SIM115 - the child keeps it
            self.sentinels[port] = subprocess.Popen([self.binary, str(conf), "--sentinel"], stdout=log, stderr=log)
        wait_until(lambda: self._replicated(master), 30, 0.1, "the replica to sync with the master")
        wait_until(lambda: self._sentinels_see_replica(), 30, 0.1, "the Sentinels to find the replica")
        return self

    def _server(self, port: int, *extra: str) -> None:
        log = open(self.workdir / f"redis-{port}.log", "ab")  # noqa: SIM115 - the child keeps it
        # Nothing on disk: a killed master comes back empty, as the worst case of a lost server.
        self.servers[port] = subprocess.Popen(
            [*processes.redis_server_command(self.binary, port, self.workdir), *extra],
            stdout=log,
            stderr=log,
        )
        wait_until(lambda: self._answers(port), 20, 0.05, f"redis-server on {port}")

    def stop(self) -> None:
        for proc in [*self.sentinels.values(), *self.servers.values()]:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        shutil.rmtree(self.workdir, ignore_errors=True)

    # --- what the service is configured with ---

    @property
    def sentinel_list(self) -> str:
        """``OCEANE_REDIS_SENTINELS``."""
        return ",".join(f"127.0.0.1:{p}" for p in self.sentinels)

    def settings(self, db: int = 0) -> dict[str, Any]:
        """The settings that point the service at this set (the URL's host is not used)."""
        return {
            "redis_url": f"redis://sentinel-named/{db}",
            "redis_sentinels": self.sentinel_list,
            "redis_sentinel_master": MASTER_NAME,
        }

    # --- state ---

    def master_port(self) -> int:
        """The master's port as the Sentinels name it now."""
        import redis

        for port in self.sentinels:
            with contextlib.suppress(redis.RedisError):
                client = redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=2)
                _host, master = client.sentinel_get_master_addr_by_name(MASTER_NAME)
                return int(master)
        raise AssertionError("no Sentinel answered")

    def client(self, db: int = 0) -> Any:
        """A client on the master of the moment (through Sentinel, as the service's)."""
        from redis.sentinel import Sentinel

        sentinel = Sentinel([("127.0.0.1", p) for p in self.sentinels], socket_timeout=2)
        return sentinel.master_for(MASTER_NAME, db=db, socket_timeout=5, socket_connect_timeout=2)

    def kill_master(self) -> float:
        """SIGKILL the master, wait until the Sentinels promoted the replica; the monotonic time of the kill."""
        old = self.master_port()
        self.servers[old].send_signal(signal.SIGKILL)
        self.servers[old].wait(10)
        killed = time.monotonic()
        wait_until(lambda: self._promoted(old), 60, 0.1, "the Sentinels to promote the replica")
        return killed

    def restart_as_replica(self, port: int) -> None:
        """Bring a killed server back (empty): the Sentinels make it a replica of the new master."""
        self._server(port, "--replicaof", "127.0.0.1", str(self.master_port()))

    def _promoted(self, old: int) -> bool:
        import redis

        try:
            port = self.master_port()
            role = redis.Redis(port=port, socket_timeout=2).info("replication")["role"]
        except (AssertionError, redis.RedisError):
            return False
        return port != old and role == "master"

    def _answers(self, port: int) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def _replicated(self, master: int) -> bool:
        import redis

        info = redis.Redis(port=master, socket_timeout=2).info("replication")
        return int(info.get("connected_slaves", 0)) >= 1 and "online" in str(info.get("slave0", {}))

    def _sentinels_see_replica(self) -> bool:
        import redis

        for port in self.sentinels:
            try:
                client = redis.Redis(port=port, socket_timeout=2)
                if not client.sentinel_slaves(MASTER_NAME) or len(client.sentinel_sentinels(MASTER_NAME)) < 2:
                    return False
            except redis.RedisError:
                return False
        return True


class PostgresPair:
    """A PostgreSQL primary and a streaming standby on free loopback ports, run as ``postgres``."""

    DATABASE = "oceane"

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="oceane-pg-"))
        os.chmod(self.workdir, 0o755)  # noqa: S103 - postgres, not root, owns the data below
        shutil.chown(self.workdir, "postgres", "postgres")
        self.primary_dir = self.workdir / "primary"
        self.standby_dir = self.workdir / "standby"
        self.ports = {"primary": free_port(), "standby": free_port()}
        self.promoted = False

    # --- running PostgreSQL's tools as postgres ---

    def _as_postgres(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)
        return subprocess.run(command, capture_output=True, text=True, check=check, timeout=120, cwd=self.workdir)

    def _pg_ctl(self, role: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        data = self.primary_dir if role == "primary" else self.standby_dir
        return self._as_postgres(_pg_bin("pg_ctl"), "-D", str(data), *argv, check=check)

    # --- lifecycle ---

    def start(self) -> PostgresPair:
        initdb = [_pg_bin("initdb"), "-D", str(self.primary_dir), "-A", "trust", "-U", "postgres", "-E", "UTF8", "-N"]
        self._as_postgres(*initdb)
        with open(self.primary_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(
                f"port = {self.ports['primary']}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.workdir}'\n"
                "wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\n"
                # Synchronous standby for what asks for it; the server's own default does not wait.
                "synchronous_standby_names = '*'\nsynchronous_commit = local\n"
                # A test bed: the OS keeps what PostgreSQL wrote, fsync only slows the machine.
                "fsync = off\nfull_page_writes = off\nshared_buffers = 16MB\nmax_connections = 60\n"
            )
        with open(self.primary_dir / "pg_hba.conf", "a", encoding="utf-8") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        self._pg_ctl("primary", "-l", str(self.workdir / "primary.log"), "-w", "start")
        self._sql("primary", f"CREATE DATABASE {self.DATABASE}", database="postgres")
        self._as_postgres(
            _pg_bin("pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.ports["primary"]), "-U", "postgres",
            "-D", str(self.standby_dir), "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        with open(self.standby_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            # Once promoted it has no standby of its own: it must not wait for one.
            conf.write(f"port = {self.ports['standby']}\nsynchronous_standby_names = ''\n")
        self._pg_ctl("standby", "-l", str(self.workdir / "standby.log"), "-w", "start")
        wait_until(self.caught_up, 60, 0.1, "the standby to stream from the primary")
        return self

    def stop(self) -> None:
        for role in ("primary", "standby"):
            self._pg_ctl(role, "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)

    # --- what the service is configured with ---

    def url(self, **query: str) -> str:
        """The multi-host URL (SQLAlchemy's documented form): whichever host accepts writes."""
        extra = "".join(f"&{k}={v}" for k, v in query.items())
        hosts = "&".join(f"host=127.0.0.1:{p}" for p in (self.ports["primary"], self.ports["standby"]))
        return f"postgresql+psycopg://postgres@/{self.DATABASE}?{hosts}&target_session_attrs=read-write{extra}"

    def role_url(self, role: str) -> str:
        """A URL of one server (to read the standby, or set one up)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.ports[role]}/{self.DATABASE}"

    # --- state and faults ---

    def _sql(self, role: str, sql: str, database: str | None = None) -> Any:
        import psycopg

        conninfo = f"host=127.0.0.1 port={self.ports[role]} user=postgres dbname={database or self.DATABASE}"
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else None

    def caught_up(self) -> bool:
        """Whether the standby streams and has replayed everything the primary wrote."""
        rows = self._sql("primary", "SELECT replay_lsn = pg_current_wal_lsn() FROM pg_stat_replication")
        return bool(rows) and all(r[0] for r in rows)

    def pause_shipping(self) -> None:
        """Stop the standby's WAL receiver: what the primary commits from now on, a failover loses."""
        self._sql("standby", "ALTER SYSTEM SET primary_conninfo = ''")
        self._sql("standby", "SELECT pg_reload_conf()")
        gone = lambda: not self._sql("primary", "SELECT 1 FROM pg_stat_replication")  # noqa: E731
        wait_until(gone, 30, 0.1, "the walsender to go")

    def sync_waiters(self) -> int:
        """Backends of the primary waiting for the synchronous standby to confirm their commit."""
        rows = self._sql("primary", "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")
        return int(rows[0][0])

    def stop_primary(self) -> float:
        """The primary goes away at once (``pg_ctl stop -m immediate``: no shutdown checkpoint); its time."""
        self._pg_ctl("primary", "-m", "immediate", "stop")
        return time.monotonic()

    def promote(self) -> None:
        """Promote the standby (what Patroni or a managed service does) and wait until it takes writes."""
        self._pg_ctl("standby", "-w", "promote")
        self.promoted = True
        wait_until(lambda: not self._sql("standby", "SELECT pg_is_in_recovery()")[0][0], 60, 0.1, "the promotion")

    def fail_over(self) -> float:
        """Stop the primary and promote the standby; the monotonic time of the stop."""
        stopped = self.stop_primary()
        self.promote()
        return stopped

    def timeline(self, role: str) -> int:
        """The server's current timeline (a promotion starts a new one)."""
        return int(self._sql(role, "SELECT timeline_id FROM pg_control_checkpoint()")[0][0])
