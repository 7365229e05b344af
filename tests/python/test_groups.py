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


def wait_until(what: str, cond, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out after {timeout}s: {what}"
        time.sleep(0.05)


# ----------------------------------------------------------------------------------------------
# One adapter per client: create a topic, produce to given partitions, and group consumers with
# subscribe / poll -> [(partition, offset, value)] / assignment / commit / committed / close.
# ----------------------------------------------------------------------------------------------


class KafkaPython:
    name = "kafka-python"

    @staticmethod
    def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
        from kafka.admin import KafkaAdminClient, NewTopic

        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
        try:
            admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        finally:
            admin.close()

    @staticmethod
    def produce(bootstrap: str, topic: str, msgs: list[tuple[int, bytes]]) -> None:
        from kafka import KafkaProducer

        p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        try:
            futures = [p.send(topic, value=v, partition=part) for part, v in msgs]
            p.flush(TIMEOUT)
            for f in futures:
                f.get(timeout=TIMEOUT)
        finally:
            p.close()

    class Consumer:
        def __init__(self, bootstrap: str, group: str):
            from kafka import KafkaConsumer

            self.c = KafkaConsumer(
                bootstrap_servers=bootstrap,
                group_id=group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=10000,
                heartbeat_interval_ms=1000,
                fetch_max_wait_ms=100,
            )

        def subscribe(self, topic: str) -> None:
            self.c.subscribe([topic])

        def poll(self) -> list[tuple[int, int, bytes]]:
            out = []
            for tp, recs in self.c.poll(timeout_ms=200).items():
                out.extend((tp.partition, r.offset, r.value) for r in recs)
            return out

        def assignment(self) -> set[int]:
            return {tp.partition for tp in self.c.assignment()}

        def commit(self) -> None:
            self.c.commit()  # the positions of everything consumed

        def committed(self, topic: str, partitions: int) -> dict[int, int | None]:
            from kafka import TopicPartition

            return {
                p: self.c.committed(TopicPartition(topic, p), timeout_ms=30000)
                for p in range(partitions)
            }

        def close(self) -> None:
            self.c.close()


class ConfluentKafka:
    name = "confluent-kafka"

    @staticmethod
    def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})
        futures = admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1)],
            request_timeout=30,
        )
        for f in futures.values():
            f.result(TIMEOUT)

    @staticmethod
    def produce(bootstrap: str, topic: str, msgs: list[tuple[int, bytes]]) -> None:
        from confluent_kafka import Producer

        p = Producer(
            {"bootstrap.servers": bootstrap, "broker.address.family": "v4", "acks": "all", "linger.ms": 5}
        )
        errors = []

        def report(err, _msg):
            if err is not None:
                errors.append(err)

        for part, v in msgs:
            p.produce(topic, value=v, partition=part, on_delivery=report)
        assert p.flush(TIMEOUT) == 0, "undelivered messages"
        assert not errors, errors

    class Consumer:
        settings = {"session.timeout.ms": 10000, "heartbeat.interval.ms": 1000}

        def __init__(self, bootstrap: str, group: str):
            from confluent_kafka import Consumer

            self.c = Consumer(
                {
                    "bootstrap.servers": bootstrap,
                    "broker.address.family": "v4",
                    "group.id": group,
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "fetch.wait.max.ms": 100,
                    **self.settings,
                }
            )

        def subscribe(self, topic: str) -> None:
            self.c.subscribe([topic])

        def poll(self) -> list[tuple[int, int, bytes]]:
            m = self.c.poll(0.2)
            if m is None:
                return []
            assert m.error() is None, m.error()
            return [(m.partition(), m.offset(), m.value())]

        def assignment(self) -> set[int]:
            return {tp.partition for tp in self.c.assignment()}

        def commit(self) -> None:
            self.c.commit(asynchronous=False)  # the positions of everything consumed

        def committed(self, topic: str, partitions: int) -> dict[int, int | None]:
            from confluent_kafka import TopicPartition

            tps = self.c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)
            return {tp.partition: (tp.offset if tp.offset >= 0 else None) for tp in tps}

        def close(self) -> None:
            self.c.close()


class ConfluentKafkaKip848(ConfluentKafka):
    """confluent-kafka (librdkafka) with KIP-848's `group.protocol=consumer`: the broker
    assigns, and the session and heartbeat interval are the broker's settings."""

    name = "confluent-kafka-kip848"

    class Consumer(ConfluentKafka.Consumer):
        settings = {"group.protocol": "consumer"}


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
