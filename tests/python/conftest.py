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

`broker_factory(**settings)` starts more brokers or brokers with extra `--set key=value`
(dots in keys: pass a dict, `broker_factory({"auto.create.topics.enable": "false"})`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
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
    def __init__(self, settings: dict[str, str] | None = None):
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
        self._spawn()

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
        binary = broker_bin()
        if not binary.exists():
            raise RuntimeError(
                f"broker binary {binary} does not exist: run `cargo build -p fjord-broker` "
                "or set FJORD_BROKER_BIN"
            )
        with self._lock:
            start = len(self._log)
            self._log.append(f"=== fjord-pytest: start {' '.join(self._args())}\n")
        self.proc = subprocess.Popen(
            self._args(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            with self._lock:
                lines = self._log[start:]
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
    failed = getattr(request.node, "rep_call", None)
    for b in started:
        if failed is not None and failed.failed:
            print(f"----- fjord-broker log -----\n{b.log()}")
        b.close()


@pytest.fixture
def broker(broker_factory) -> Broker:
    """A fresh fjord-broker for one test."""
    return broker_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
