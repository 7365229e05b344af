"""Consumer groups with kafka-python and confluent-kafka against a real fjord-broker.

For each client: two consumers in one group share a 4-partition topic (every partition owned
by exactly one), every message produced is consumed exactly once across the pair, offsets are
committed, the broker restarts, and a new consumer in the group resumes at the committed offsets
(it gets exactly the messages produced after the commit).

Run:  .venv/bin/python -m pytest tests/python/test_groups.py   (scripts/test.sh installs
      tests/python/requirements-clients.txt into .venv and builds the broker first)
"""

from __future__ import annotations

import threading
import time

import pytest
from conftest import wait_until
from kafka_clients import ConfluentKafka, ConfluentKafkaKip848, KafkaPython

PARTITIONS = 4
TIMEOUT = 60.0  # generous deadline for every wait
# kafka-python loads its protocol schemas with importlib.resources.read_text (deprecated).
pytestmark = pytest.mark.filterwarnings("ignore:.*is deprecated. Use files:DeprecationWarning")


@pytest.fixture
def broker(broker_factory):
    """The shared conftest broker, without the initial rebalance delay (faster joins); KIP-848
    groups get the session and heartbeat interval classic consumers set for themselves."""
    return broker_factory(
        {
            "group.initial.rebalance.delay.ms": "0",
            "group.consumer.min.session.timeout.ms": "10000",
            "group.consumer.session.timeout.ms": "10000",
            "group.consumer.min.heartbeat.interval.ms": "1000",
            "group.consumer.heartbeat.interval.ms": "1000",
        }
    )


class Member(threading.Thread):
    """Runs one group consumer on its own thread (a consumer blocked in a rebalance must not
    stop the other member from polling). Records every message and the current assignment;
    commits when asked; closes the consumer when stopped."""

    def __init__(self, client, bootstrap: str, group: str, topic: str):
        super().__init__(daemon=True)
        self.consumer = client.Consumer(bootstrap, group)
        self.topic = topic
        self.lock = threading.Lock()
        self.records: list[tuple[int, int, bytes]] = []
        self.assigned: set[int] = set()
        self.error: BaseException | None = None
        self.want_commit = threading.Event()
        self.committed = threading.Event()
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            self.consumer.subscribe(self.topic)
            while not self.halt.is_set():
                recs = self.consumer.poll()
                assigned = self.consumer.assignment()
                with self.lock:
                    self.records.extend(recs)
                    self.assigned = assigned
                if self.want_commit.is_set() and not self.committed.is_set():
                    self.consumer.commit()
                    self.committed.set()
        except BaseException as e:  # reported by check()
            self.error = e
        finally:
            self.consumer.close()

    def check(self) -> None:
        assert self.error is None, f"consumer thread failed: {self.error!r}"

    def snapshot(self) -> tuple[set[int], list[tuple[int, int, bytes]]]:
        self.check()
        with self.lock:
            return set(self.assigned), list(self.records)

    def stop(self) -> None:
        self.halt.set()
        self.join(TIMEOUT)
        assert not self.is_alive(), "consumer did not close"
        self.check()


# kafka-python 3.0 and kafkajs 2.2 implement only the classic protocol (no
# ConsumerGroupHeartbeat), so KIP-848 runs with confluent-kafka only.
@pytest.mark.parametrize(
    "client", [KafkaPython, ConfluentKafka, ConfluentKafkaKip848], ids=lambda c: c.name
)
def test_two_members_split_partitions_consume_once_and_a_new_member_resumes_after_restart(
    broker, client
):
    topic, group = f"groups-{client.name}", f"g-{client.name}"
    client.create_topic(broker.bootstrap, topic, PARTITIONS)

    members = [Member(client, broker.bootstrap, group, topic) for _ in range(2)]
    try:
        for m in members:
            m.start()

        # Every partition owned by exactly one member, both members busy.
        def split() -> bool:
            sets = [m.snapshot()[0] for m in members]
            return (
                all(sets)
                and sets[0].isdisjoint(sets[1])
                and sets[0] | sets[1] == set(range(PARTITIONS))
            )

        wait_until("two members split the partitions", split)
        owned = [m.snapshot()[0] for m in members]

        # Produce only now, so no message is read before the split.
        first = [(i % PARTITIONS, f"first-{i}".encode()) for i in range(200)]
        client.produce(broker.bootstrap, topic, first)

        def all_first_seen() -> bool:
            seen = {v for m in members for (_, _, v) in m.snapshot()[1]}
            return seen >= {v for _, v in first}

        wait_until("all 200 messages consumed", all_first_seen)
        for m in members:
            m.want_commit.set()
        wait_until("both members committed", lambda: all(m.committed.is_set() for m in members))

        got = [(m_i, rec) for m_i, m in enumerate(members) for rec in m.snapshot()[1]]
        values = [v for _, (_, _, v) in got]
        assert sorted(values) == sorted(v for _, v in first), "every message exactly once"
        assert len({(p, o) for _, (p, o, _) in got}) == len(got), "no record read twice"
        for m_i, (p, _, _) in got:
            assert p in owned[m_i], f"member {m_i} read partition {p} it does not own {owned}"
        assert [m.snapshot()[0] for m in members] == owned, "the split held"
    finally:
        for m in members:
            m.stop()

    second = [(i % PARTITIONS, f"second-{i}".encode()) for i in range(40)]
    client.produce(broker.bootstrap, topic, second)
    broker.restart()

    fresh = client.Consumer(broker.bootstrap, group)
    try:
        committed = fresh.committed(topic, PARTITIONS)
        assert committed == {p: 50 for p in range(PARTITIONS)}, committed
        fresh.subscribe(topic)
        got = []
        want = sorted(v for _, v in second)
        deadline = time.monotonic() + TIMEOUT
        while sorted(v for _, _, v in got) != want:
            got.extend(fresh.poll())
            old = [r for r in got if r[2].startswith(b"first-")]
            assert not old, f"re-read messages from before the commit: {old}"
            assert len(got) <= len(want), f"more than the {len(want)} new messages: {got}"
            assert time.monotonic() < deadline, f"resumed with only {len(got)} of {len(want)}"
        # Each partition resumed exactly at its committed offset.
        first_offset = {}
        for p, o, _ in got:
            first_offset.setdefault(p, o)
        assert first_offset == {p: 50 for p in range(PARTITIONS)}, first_offset
    finally:
        fresh.close()
