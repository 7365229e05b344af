"""kafka-python and confluent-kafka against a three-node fjord cluster (issue 11).

For each client, on an RF 3, min.insync.replicas=2 topic:
1. an acks=all producer writes numbered records while the test kill -9s the leader of
   partition 0; the client refreshes its metadata (NOT_LEADER_OR_FOLLOWER / disconnect) and the
   producer carries on on the new leader; the killed broker restarts and rejoins the ISR;
2. a consumer reads back every acknowledged record at its acknowledged offset, in order per
   partition, exactly once for idempotent producers; without idempotence (kafka-python with
   enable_idempotence=False) a record may be written twice only if it was in flight at the kill;
3. a group member reads the topic and commits; the group's coordinator broker is kill -9'd; the
   member goes on reading new records (none it committed) and commits on the new coordinator; a
   fresh member starts exactly at those commits; the killed broker restarts and rejoins the ISR.

kafka-python 3.0 is idempotent too (enable_idempotence, KIP-679's default), so both clients are
held to exactly once; `kafka-python-at-least-once` runs the same without idempotence.

Run:  FJORD_BROKER_BIN=... .venv/bin/python -m pytest tests/python/test_cluster_clients.py
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from conftest import wait_until
from kafka_clients import ConfluentKafka, KafkaPython, KafkaPythonAtLeastOnce

PARTITIONS = 3
TOPIC = "replicated"
GROUP = "cluster-group"
TIMEOUT = 60.0
SETTINGS = {
    "min.insync.replicas": "2",
    "replica.lag.time.max.ms": "1500",
    "group.initial.rebalance.delay.ms": "0",
}
# kafka-python loads its protocol schemas with importlib.resources.read_text (deprecated).
pytestmark = pytest.mark.filterwarnings("ignore:.*is deprecated. Use files:DeprecationWarning")


class Writer(threading.Thread):
    """Sends record `seq` (value b"<seq>") to partition seq % PARTITIONS, one after the other,
    at most 50 unacknowledged, until stopped; records each outcome and when it came."""

    def __init__(self, client, bootstrap: str):
        super().__init__(daemon=True)
        self.producer = client.Producer(bootstrap, TOPIC)
        self.lock = threading.Lock()
        self.sent = 0
        self.sent_at: list[float] = []
        # seq -> (error, partition, offset, monotonic time of the report)
        self.outcomes: dict[int, tuple[object, int, int | None, float]] = {}
        self.halt = threading.Event()
        self.error: BaseException | None = None

    def report(self, seq: int):
        def done(err, partition, offset):
            with self.lock:
                self.outcomes[seq] = (err, partition, offset, time.monotonic())

        return done

    def acked(self) -> int:
        with self.lock:
            return sum(1 for o in self.outcomes.values() if o[0] is None)

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                self.producer.poll()
                with self.lock:
                    if self.sent - len(self.outcomes) >= 50:
                        backlog = True
                    else:
                        backlog = False
                        seq = self.sent
                        self.sent += 1
                        self.sent_at.append(time.monotonic())
                if backlog:
                    time.sleep(0.005)
                    continue
                self.producer.send(seq % PARTITIONS, str(seq).encode(), self.report(seq))
        except BaseException as e:  # reported by stop()
            self.error = e

    def stop(self) -> None:
        self.halt.set()
        self.join(TIMEOUT)
        assert not self.is_alive(), "the producer thread did not stop"
        assert self.error is None, f"producer thread failed: {self.error!r}"
        self.producer.close()


def all_in_sync(parts) -> bool:
    return len(parts) == PARTITIONS and all(len(p.isr) == 3 for p in parts.values())


@pytest.mark.parametrize(
    "client", [KafkaPython, KafkaPythonAtLeastOnce, ConfluentKafka], ids=lambda c: c.name
)
def test_producer_and_group_survive_a_kill9_of_the_leader_and_of_the_coordinator(
    cluster_factory, client
):
    started = time.monotonic()
    cluster = cluster_factory(3, SETTINGS)
    client.create_topic(cluster.bootstrap(), TOPIC, PARTITIONS, 3)
    parts = cluster.wait_for_partitions(0, TOPIC, "all replicas in sync", all_in_sync)

    # --- 1. kill -9 the leader of partition 0 while the idempotent producer writes -----------
    leader = parts[0].leader
    writer = Writer(client, cluster.bootstrap())
    writer.start()
    wait_until("300 records acknowledged before the kill", lambda: writer.acked() >= 300 or writer.error)
    cluster.nodes[leader].kill9()
    killed_at = time.monotonic()
    with writer.lock:
        sent_before_kill = writer.sent
    survivor = cluster.any_running()
    cluster.wait_for_partitions(
        survivor,
        TOPIC,
        f"partition 0 led by another in-sync replica than {leader}",
        lambda ps: ps[0].leader not in (-1, leader) and leader not in ps[0].isr,
    )

    def acked_after_kill() -> int:
        with writer.lock:
            return sum(
                1
                for s, o in writer.outcomes.items()
                if s >= sent_before_kill and o[0] is None and o[1] == 0
            )

    wait_until(
        "100 records of partition 0 sent after the kill acknowledged",
        lambda: acked_after_kill() >= 100 or writer.error,
    )
    writer.stop()
    with writer.lock:
        outcomes = dict(writer.outcomes)
    failed = {s: o[0] for s, o in outcomes.items() if o[0] is not None}
    assert not failed, f"records not delivered: {failed}"
    assert len(outcomes) == writer.sent
    # Records of partition 0 sent after the kill can only be acknowledged by its new leader.
    resumed = (
        min(o[3] for s, o in outcomes.items() if o[1] == 0 and s >= sent_before_kill) - killed_at
    )
    assert resumed < 15, f"partition 0 took writes again {resumed:.1f}s after the kill"

    cluster.nodes[leader].start_again()
    cluster.wait_for_partitions(survivor, TOPIC, f"{leader} back in every ISR", all_in_sync)

    # --- 2. every acknowledged record at its offset, in order, once (idempotent) or written
    # twice only if it was in flight when the leader died (its first attempt went unanswered)
    logged = client.read_all(cluster.bootstrap(), TOPIC, PARTITIONS)
    in_flight_at_kill = {
        s for s, o in outcomes.items() if writer.sent_at[s] < killed_at < o[3]
    }
    duplicates = 0
    for p, recs in logged.items():
        seqs = [int(v) for _, v in recs]
        firsts = list(dict.fromkeys(seqs))
        twice = {s for s, n in Counter(seqs).items() if n > 1}
        duplicates += len(seqs) - len(firsts)
        if client.exactly_once:
            assert not twice, f"partition {p}: duplicates {sorted(twice)}"
        else:
            assert twice <= in_flight_at_kill, f"partition {p}: duplicates {sorted(twice - in_flight_at_kill)}"
        assert firsts == sorted(firsts), f"partition {p}: out of order"
        assert all(s % PARTITIONS == p for s in seqs), f"partition {p}: foreign records"
    at = {(p, o): int(v) for p, recs in logged.items() for o, v in recs}
    for seq, (_err, p, offset, _t) in outcomes.items():
        assert at.get((p, offset)) == seq, f"record {seq} acknowledged at {p}/{offset}: {at.get((p, offset))}"
    assert set(at.values()) == set(outcomes), "only acknowledged records in the log"
    ends = {p: (recs[-1][0] + 1 if recs else 0) for p, recs in logged.items()}

    # --- 3. a group member commits; its coordinator is kill -9'd; it carries on --------------
    member = client.Consumer(cluster.bootstrap(), GROUP)
    member.subscribe(TOPIC)
    fresh = None
    try:
        seen: list[tuple[int, int, bytes]] = []
        deadline = time.monotonic() + TIMEOUT
        while len(seen) < len(at):
            assert time.monotonic() < deadline, f"the member read {len(seen)} of {len(at)}"
            seen.extend(member.poll())
        assert sorted((p, o) for p, o, _ in seen) == sorted(at), "the member read the log once"
        member.commit()
        assert member.committed(TOPIC, PARTITIONS) == ends

        coordinator = cluster.coordinator(survivor, GROUP)
        assert coordinator is not None, "the group has a coordinator"
        cluster.nodes[coordinator].kill9()
        survivor = cluster.any_running()
        wait_until(
            f"a coordinator other than {coordinator}",
            lambda: cluster.coordinator(survivor, GROUP) not in (None, coordinator),
        )

        second = [(i % PARTITIONS, f"second-{i}".encode()) for i in range(60)]
        client.produce(cluster.bootstrap(), TOPIC, second)
        # Records not yet committed may come again (at least once) if the member rejoins.
        got: list[tuple[int, int, bytes]] = []
        deadline = time.monotonic() + TIMEOUT
        while len(set(got)) < len(second):
            assert time.monotonic() < deadline, f"after the kill the member read {len(got)} of 60"
            got.extend(member.poll())
            old = [r for r in got if not r[2].startswith(b"second-")]
            assert not old, f"committed records read again: {old}"
        assert sorted({v for _, _, v in got}) == sorted(v for _, v in second)
        again = len(got) - len(set(got))
        member.commit()
        ends2 = {p: ends[p] + 20 for p in range(PARTITIONS)}
        assert member.committed(TOPIC, PARTITIONS) == ends2, "commits on the new coordinator"
        member.close()
        member = None

        third = [(i % PARTITIONS, f"third-{i}".encode()) for i in range(30)]
        client.produce(cluster.bootstrap(), TOPIC, third)
        fresh = client.Consumer(cluster.bootstrap(), GROUP)
        fresh.subscribe(TOPIC)
        got = []
        deadline = time.monotonic() + TIMEOUT
        while len(got) < len(third):
            assert time.monotonic() < deadline, f"the fresh member read {len(got)} of 30"
            got.extend(fresh.poll())
            old = [r for r in got if not r[2].startswith(b"third-")]
            assert not old, f"the fresh member read committed records: {old}"
        first_offsets: dict[int, int] = {}
        for p, o, _ in got:
            first_offsets.setdefault(p, o)
        assert first_offsets == ends2, "the fresh member starts at the commits"
    finally:
        for m in (member, fresh):
            if m is not None:
                m.close()

    cluster.nodes[coordinator].start_again()
    cluster.wait_for_partitions(survivor, TOPIC, f"{coordinator} back in every ISR", all_in_sync)
    print(
        f"{client.name}: {len(outcomes)} records ({duplicates} written twice, "
        f"{len(in_flight_at_kill)} in flight at the kill), {len(outcomes) - sent_before_kill} sent after "
        f"the kill; partition 0 resumed {resumed:.2f}s after it; {again} uncommitted records read "
        f"again after the coordinator kill; {time.monotonic() - started:.1f}s"
    )
