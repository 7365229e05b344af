"""Shared pytest fixtures: a real fjord-broker process per test.

`broker` starts the binary the Rust tests use ($FJORD_BROKER_BIN, else
$CARGO_TARGET_DIR/debug/fjord-broker, else <repo>/target/debug/fjord-broker) on 127.0.0.1 with
port 0 for Kafka and metrics and a temporary data directory, and waits for `broker ready`.
Its stderr is captured on a background thread (`broker.log()`).

    def test_something(broker):
        broker.bootstrap      # "127.0.0.1:PORT" (changes on restart)
        broker.metrics_addr   # "127.0.0.1:PORT"
        broker.data_dir       # pathlib.Path, kept across restarts
        broker.restart()      # SIGTERM (asserts exit 0), start again on the same data dir
        broker.stop()         # SIGTERM, asserts exit 0
        broker.kill9()        # SIGKILL
        broker.start_again()  # after stop()/kill9()

`cluster` is a three-node cluster (`Cluster`: every node broker and controller, short
timeouts), `cluster_factory(n, settings)` makes others; `cluster.nodes[i]` are `Broker`s, and
`cluster.partitions(i, topic)` / `cluster.coordinator(i, group)` ask node `i` alone (raw
Metadata v4 / FindCoordinator v1).

`broker_factory(**settings)` starts more brokers or brokers with extra `--set key=value`
(dots in keys: pass a dict, `broker_factory({"auto.create.topics.enable": "false"})`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
_READY = re.compile(r"broker ready .*?kafka_addr=(\S+) .*?metrics_addr=(\S+)")


def broker_bin() -> Path:
    if os.environ.get("FJORD_BROKER_BIN"):
        return Path(os.environ["FJORD_BROKER_BIN"])
    target = os.environ.get("CARGO_TARGET_DIR")
    target_dir = Path(target) if target else ROOT / "target"
    if not target_dir.is_absolute():
        target_dir = ROOT / target_dir
    return target_dir / "debug" / "fjord-broker"


class Broker:
    def __init__(self, settings: dict[str, str] | None = None, wait: bool = True):
        self._tmp = tempfile.mkdtemp(prefix="fjord-pytest-")
        self.data_dir = Path(self._tmp) / "data"
        self.data_dir.mkdir()
        self.settings = dict(settings or {})
        self.bootstrap = ""
        self.metrics_addr = ""
        self.proc: subprocess.Popen | None = None
        self._log: list[str] = []
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._run_start = 0
        self._launch()
        if wait:
            self.wait_ready()

    # -- lifecycle ---------------------------------------------------------------------------
    def _args(self) -> list[str]:
        pairs = {
            "log.dirs": str(self.data_dir),
            "listeners": "PLAINTEXT://127.0.0.1:0",
            "metrics.port": "0",
        }
        pairs.update(self.settings)
        args = [str(broker_bin())]
        for k, v in pairs.items():
            args += ["--set", f"{k}={v}"]
        return args

    def _spawn(self) -> None:
        self._launch()
        self.wait_ready()

    def _launch(self) -> None:
        """Starts the process without waiting for `broker ready` (the nodes of a cluster only
        become ready together): call wait_ready()."""
        binary = broker_bin()
        if not binary.exists():
            raise RuntimeError(
                f"broker binary {binary} does not exist: run `cargo build -p fjord-broker` "
                "or set FJORD_BROKER_BIN"
            )
        with self._lock:
            self._run_start = len(self._log)
            self._log.append(f"=== fjord-pytest: start {' '.join(self._args())}\n")
        self.proc = subprocess.Popen(
            self._args(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()

    def wait_ready(self) -> None:
        """Waits until the process started last logs `broker ready`; reads its addresses."""
        assert self.proc is not None, "wait_ready: the broker is not running"
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            with self._lock:
                lines = self._log[self._run_start :]
            for line in lines:
                m = _READY.search(line)
                if m:
                    self.bootstrap, self.metrics_addr = m.group(1), m.group(2)
                    return
            code = self.proc.poll()
            if code is not None:
                self._join_reader()
                raise RuntimeError(f"broker exited with {code} before ready; log:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"broker not ready within {READY_TIMEOUT}s; log:\n{self.log()}"
                )
            time.sleep(0.02)

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            with self._lock:
                self._log.append(raw.decode("utf-8", "replace"))

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=10)
            self._reader = None

    def _signal_and_wait(self, sig: int) -> int:
        if self.proc is None:
            raise RuntimeError("the broker is not running")
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            code = proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self._join_reader()
            raise RuntimeError(f"broker did not exit within {STOP_TIMEOUT}s; log:\n{self.log()}")
        self._join_reader()
        with self._lock:
            self._log.append(f"=== fjord-pytest: broker exited with {code} after signal {sig}\n")
        return code

    def stop(self) -> None:
        """SIGTERM; waits and asserts a clean exit (0)."""
        code = self._signal_and_wait(signal.SIGTERM)
        assert code == 0, f"broker exited with {code} after SIGTERM; log:\n{self.log()}"

    def kill9(self) -> None:
        self._signal_and_wait(signal.SIGKILL)

    def start_again(self) -> None:
        assert not self.running, "start_again: the broker is still running"
        self._spawn()

    def restart(self) -> None:
        """Stop (if running) and start on the same data dir. New ports: re-read .bootstrap."""
        if self.running:
            self.stop()
        self._spawn()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def log(self) -> str:
        with self._lock:
            return "".join(self._log)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        self._join_reader()
        shutil.rmtree(self._tmp, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# Raw Kafka requests to one given broker (no client routing): Metadata v4, FindCoordinator v1.
# ----------------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0]

    def string(self) -> str | None:
        n = self.take(">h")
        if n < 0:
            return None
        v = self.data[self.pos : self.pos + n].decode()
        self.pos += n
        return v

    def array(self, item) -> list:
        return [item() for _ in range(max(self.take(">i"), 0))]


def _kstr(v: str) -> bytes:
    b = v.encode()
    return struct.pack(">h", len(b)) + b


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        buf += chunk
    return buf


def raw_request(addr: str, api_key: int, version: int, body: bytes) -> _Reader:
    """One request (header v1) to exactly `addr`; the response body after the correlation id."""
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        msg = struct.pack(">hhi", api_key, version, 7) + _kstr("fjord-pytest") + body
        sock.sendall(struct.pack(">i", len(msg)) + msg)
        data = _recv_exact(sock, struct.unpack(">i", _recv_exact(sock, 4))[0])
    r = _Reader(data)
    assert r.take(">i") == 7, "correlation id"
    return r


@dataclass
class PartitionState:
    leader: int
    replicas: list[int]
    isr: set[int]


@dataclass
class Metadata:
    brokers: set[int]
    controller: int
    # topic -> partition -> state (topics answered without error only)
    topics: dict[str, dict[int, PartitionState]]


def metadata(addr: str, topics: list[str] | None = None) -> Metadata:
    """Metadata v4 from exactly `addr`: `topics` only (None: no topic), no auto-creation."""
    names = topics or []
    body = struct.pack(">i", len(names)) + b"".join(_kstr(t) for t in names) + b"\x00"
    r = raw_request(addr, 3, 4, body)
    r.take(">i")  # throttle

    def broker():
        node = r.take(">i")
        r.string(), r.take(">i"), r.string()
        return node

    brokers = set(r.array(broker))
    r.string()  # cluster id
    controller = r.take(">i")

    def partition():
        err, index, leader = r.take(">h"), r.take(">i"), r.take(">i")
        replicas = r.array(lambda: r.take(">i"))
        isr = set(r.array(lambda: r.take(">i")))
        return err, index, PartitionState(leader, replicas, isr)

    out = {}

    def topic():
        err, name, _internal = r.take(">h"), r.string(), r.take(">?")
        parts = r.array(partition)
        if err == 0:
            out[name] = {i: st for _e, i, st in parts}

    r.array(topic)
    return Metadata(brokers, controller, out)


def find_coordinator(addr: str, group: str) -> int | None:
    """The coordinator of `group` as exactly `addr` answers it (None: an error)."""
    r = raw_request(addr, 10, 1, _kstr(group) + b"\x00")
    r.take(">i")  # throttle
    err = r.take(">h")
    r.string()
    node = r.take(">i")
    return node if err == 0 else None


def wait_until(what: str, cond, timeout: float = 60.0, interval: float = 0.05):
    """Polls `cond` until it returns a true value (returned), failing after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        assert time.monotonic() < deadline, f"timed out after {timeout}s: {what}"
        time.sleep(interval)


def free_ports(n: int) -> list[int]:
    """Free TCP ports on 127.0.0.1, picked by binding port 0 and letting go."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Cluster:
    """`n` brokers on 127.0.0.1 forming one metadata quorum (every node broker and
    controller, node `i` has node.id `i`), with the short timeouts of tests/src/cluster.rs so
    fencing, elections and ISR changes happen within a test. Each node is a `Broker`
    (`cluster.nodes[i].kill9()`, `.start_again()`); Kafka ports are 0, controller ports fixed
    (they are in every node's controller.quorum.voters)."""

    SETTINGS = {
        "controller.quorum.election.timeout.ms": "300",
        "controller.quorum.fetch.timeout.ms": "1000",
        "broker.session.timeout.ms": "2000",
        "broker.heartbeat.interval.ms": "300",
        "offsets.topic.num.partitions": "3",
    }

    def __init__(self, n: int = 3, settings: dict[str, str] | None = None):
        ports = free_ports(n)
        voters = ",".join(f"{i}@127.0.0.1:{p}" for i, p in enumerate(ports))
        self.nodes: list[Broker] = []
        for i, port in enumerate(ports):
            node_settings = {
                "node.id": str(i),
                "listeners": f"PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{port}",
                "controller.quorum.voters": voters,
                **self.SETTINGS,
                **(settings or {}),
            }
            self.nodes.append(Broker(node_settings, wait=False))
        for node in self.nodes:
            node.wait_ready()
        for i in range(n):
            self.wait_for_brokers(i, set(range(n)))

    def bootstrap(self) -> str:
        """Every running node's Kafka address."""
        return ",".join(n.bootstrap for n in self.nodes if n.running)

    def any_running(self, but: int | None = None) -> int:
        return next(i for i, n in enumerate(self.nodes) if n.running and i != but)

    def metadata(self, i: int, topics: list[str] | None = None) -> Metadata:
        return metadata(self.nodes[i].bootstrap, topics)

    def wait_for_brokers(self, i: int, ids: set[int]) -> None:
        wait_until(f"node {i} lists brokers {sorted(ids)}", lambda: self.metadata(i).brokers == ids)

    def partitions(self, i: int, topic: str) -> dict[int, PartitionState]:
        """`topic`'s partitions as node `i` reports them ({} while it does not know it)."""
        return self.metadata(i, [topic]).topics.get(topic, {})

    def wait_for_partitions(self, i: int, topic: str, what: str, ok) -> dict[int, PartitionState]:
        """Waits until node `i` reports `topic` with partitions `ok` accepts; returns them."""

        def check():
            parts = self.partitions(i, topic)
            return parts if parts and ok(parts) else None

        return wait_until(f"node {i}: {topic}: {what}", check)

    def coordinator(self, i: int, group: str) -> int | None:
        return find_coordinator(self.nodes[i].bootstrap, group)

    def logs(self) -> str:
        return "".join(f"----- node {i} -----\n{n.log()}" for i, n in enumerate(self.nodes))

    def close(self) -> None:
        for n in self.nodes:
            n.close()


@pytest.fixture
def cluster_factory(request):
    """`cluster_factory(n=3, settings)`: a `Cluster`; its logs are printed if the test fails."""
    started: list[Cluster] = []

    def make(n: int = 3, settings: dict[str, str] | None = None) -> Cluster:
        c = Cluster(n, settings)
        started.append(c)
        return c

    yield make
    _close_all(request, started, lambda c: c.logs())


@pytest.fixture
def cluster(cluster_factory) -> Cluster:
    """A fresh three-node cluster for one test."""
    return cluster_factory()


@pytest.fixture
def broker_factory(request):
    started: list[Broker] = []

    def make(settings: dict[str, str] | None = None, **kw: str) -> Broker:
        merged = dict(settings or {})
        merged.update(kw)
        b = Broker(merged)
        started.append(b)
        return b

    yield make
    _close_all(request, started, lambda b: f"----- fjord-broker log -----\n{b.log()}")


def _close_all(request, started: list, logs) -> None:
    """Closes what a factory fixture started, printing `logs(each)` if the test failed."""
    failed = getattr(request.node, "rep_call", None)
    for s in started:
        if failed is not None and failed.failed:
            print(logs(s))
        s.close()


@pytest.fixture
def broker(broker_factory) -> Broker:
    """A fresh fjord-broker for one test."""
    return broker_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
