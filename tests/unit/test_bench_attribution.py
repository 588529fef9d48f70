"""The bench's CPU attribution: each py-spy stack charged to the innermost package that is not the stdlib."""

from __future__ import annotations

import sysconfig

from bench import attribution

SITE = "/venv/lib/python3.11/site-packages"
STDLIB = sysconfig.get_paths()["stdlib"]
# py-spy names most files relative to their sys.path entry, as in these; some it leaves absolute.


def frame(func: str, path: str) -> str:
    return f"{func} ({path}:10)"


def test_a_stdlib_call_is_charged_to_the_package_that_made_it() -> None:
    stack = [
        frame("<module>", "celery/__main__.py"),
        frame("execute", "redis/client.py"),
        frame("recv", "socket.py"),
    ]
    assert attribution.owner(stack) == "redis-py"
    assert attribution.owner([frame("execute", f"{SITE}/psycopg/cursor.py"), frame("x", f"{STDLIB}/ssl.py")]) == (
        "the database driver (psycopg)"
    )
    stdlib_only = [frame("loads", "json/decoder.py"), frame("<module>", "<frozen os>")]
    assert attribution.owner(stdlib_only) == attribution.STDLIB


def test_shares_add_up_and_come_largest_first() -> None:
    raw = "\n".join(
        [
            ";".join([frame("run", "celery/worker/worker.py"), frame("drain", "kombu/transport/redis.py")]) + " 30",
            ";".join([frame("run", "celery/worker/worker.py"), frame("process", "worker/processing.py")]) + " 10",
            frame("execute", f"{SITE}/psycopg/cursor.py") + " 10",
            "garbage without a count",
        ]
    )
    shares = attribution.attribute(raw)
    assert list(shares) == ["kombu", "our code", "the database driver (psycopg)"]
    assert abs(sum(shares.values()) - 1.0) < 1e-9 and shares["kombu"] == 0.6
    assert "kombu 60% (3.0 ms)" in attribution.summary(shares, 5.0)


def test_children_only_leaves_out_the_main_process() -> None:
    main = 'process 10:"celery worker"'
    child = 'process 11:"celery worker"'
    raw = "\n".join(
        [
            ";".join([main, frame("poll", "kombu/utils/eventio.py")]) + " 50",
            ";".join([main, child, frame("recv_into", "urllib3/response.py")]) + " 30",
            ";".join([main, child, frame("blpop", "redis/commands/core.py")]) + " 10",
        ]
    )
    assert list(attribution.attribute(raw)) == ["kombu", "the HTTP client (requests, urllib3)", "redis-py"]
    children = attribution.attribute(raw, children_only=True)
    assert children == {"the HTTP client (requests, urllib3)": 0.75, "redis-py": 0.25}
