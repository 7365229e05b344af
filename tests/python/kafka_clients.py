"""One adapter per Python Kafka client (kafka-python, confluent-kafka), shared by the tests:

    client.create_topic(bootstrap, topic, partitions, replication_factor=1)
    client.produce(bootstrap, topic, [(partition, value)])  # acks=all, waits for every ack
    client.read_all(bootstrap, topic, partitions) -> {partition: [(offset, value)]}  # to the end
    p = client.Producer(bootstrap, topic)  # acks=all, asynchronous, idempotent if exactly_once
    p.send(partition, value, done)  # done(error, partition, offset) once the outcome is known
    p.poll(); p.close()  # close flushes
    c = client.Consumer(bootstrap, group)  # manual commits, from the earliest offset
    c.subscribe(topic); c.poll() -> [(partition, offset, value)]; c.assignment() -> {partition}
    c.commit(); c.committed(topic, partitions) -> {partition: offset or None}; c.close()

`bootstrap` is "host:port[,host:port...]".
"""

from __future__ import annotations

import time

TIMEOUT = 60.0  # generous deadline for every wait


class KafkaPython:
    name = "kafka-python"
    exactly_once = True  # its Producer is idempotent

    @staticmethod
    def create_topic(bootstrap: str, topic: str, partitions: int, replication_factor: int = 1) -> None:
        from kafka.admin import KafkaAdminClient, NewTopic

        admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=30000)
        try:
            admin.create_topics(
                [NewTopic(topic, num_partitions=partitions, replication_factor=replication_factor)]
            )
        finally:
            admin.close()

    @staticmethod
    def produce(bootstrap: str, topic: str, msgs: list[tuple[int, bytes]]) -> None:
        from kafka import KafkaProducer

        p = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all", linger_ms=5)
        try:
            futures = [p.send(topic, value=v, partition=part) for part, v in msgs]
            p.flush(TIMEOUT)
            for f in futures:
                f.get(timeout=TIMEOUT)
        finally:
            p.close()

    @staticmethod
    def read_all(bootstrap: str, topic: str, partitions: int) -> dict[int, list[tuple[int, bytes]]]:
        from kafka import KafkaConsumer, TopicPartition

        c = KafkaConsumer(bootstrap_servers=bootstrap.split(","), fetch_max_wait_ms=100)
        try:
            tps = [TopicPartition(topic, p) for p in range(partitions)]
            c.assign(tps)
            c.seek_to_beginning()
            ends = c.end_offsets(tps)
            out: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(partitions)}
            deadline = time.monotonic() + TIMEOUT
            while any(c.position(tp) < ends[tp] for tp in tps):
                assert time.monotonic() < deadline, "read back to the end offsets"
                for tp, recs in c.poll(timeout_ms=200).items():
                    out[tp.partition].extend((r.offset, r.value) for r in recs)
            return out
        finally:
            c.close()

    class Producer:
        settings: dict = {"enable_idempotence": True}

        def __init__(self, bootstrap: str, topic: str):
            from kafka import KafkaProducer

            self.topic = topic
            self.p = KafkaProducer(
                bootstrap_servers=bootstrap.split(","),
                acks="all",
                **self.settings,
                linger_ms=5,
                delivery_timeout_ms=int(TIMEOUT * 1000),
                request_timeout_ms=10000,
                retry_backoff_ms=100,
                reconnect_backoff_ms=100,
            )

        def send(self, partition: int, value: bytes, done) -> None:
            f = self.p.send(self.topic, value=value, partition=partition)
            f.add_callback(lambda md: done(None, md.partition, md.offset))
            f.add_errback(lambda e: done(e, partition, None))

        def poll(self) -> None:
            pass  # callbacks run on the client's I/O thread

        def close(self) -> None:
            self.p.flush(TIMEOUT)
            self.p.close(TIMEOUT)

    class Consumer:
        def __init__(self, bootstrap: str, group: str):
            from kafka import KafkaConsumer

            self.c = KafkaConsumer(
                bootstrap_servers=bootstrap.split(","),
                group_id=group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=10000,
                heartbeat_interval_ms=1000,
                fetch_max_wait_ms=100,
                retry_backoff_ms=100,
                reconnect_backoff_ms=100,
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


class KafkaPythonAtLeastOnce(KafkaPython):
    """kafka-python's producer without idempotence (acks=all, retries, one request in flight
    so retries keep the order): a retried send may be written twice."""

    name = "kafka-python-at-least-once"
    exactly_once = False

    class Producer(KafkaPython.Producer):
        settings = {
            "enable_idempotence": False,
            "retries": 2**31 - 1,
            "max_in_flight_requests_per_connection": 1,
        }


class ConfluentKafka:
    name = "confluent-kafka"
    exactly_once = True  # its Producer is idempotent
    base = {"broker.address.family": "v4"}

    @classmethod
    def create_topic(
        cls, bootstrap: str, topic: str, partitions: int, replication_factor: int = 1
    ) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": bootstrap, **cls.base})
        futures = admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=replication_factor)],
            request_timeout=30,
        )
        for f in futures.values():
            f.result(TIMEOUT)

    @classmethod
    def produce(cls, bootstrap: str, topic: str, msgs: list[tuple[int, bytes]]) -> None:
        from confluent_kafka import Producer

        p = Producer({"bootstrap.servers": bootstrap, **cls.base, "acks": "all", "linger.ms": 5})
        errors = []

        def report(err, _msg):
            if err is not None:
                errors.append(err)

        for part, v in msgs:
            p.produce(topic, value=v, partition=part, on_delivery=report)
        assert p.flush(TIMEOUT) == 0, "undelivered messages"
        assert not errors, errors

    @classmethod
    def read_all(cls, bootstrap: str, topic: str, partitions: int) -> dict[int, list[tuple[int, bytes]]]:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        c = Consumer(
            {"bootstrap.servers": bootstrap, **cls.base, "group.id": "read-all", "fetch.wait.max.ms": 100}
        )
        try:
            ends = {
                p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                for p in range(partitions)
            }
            c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
            out: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(partitions)}
            next_offset = {p: 0 for p in range(partitions)}
            deadline = time.monotonic() + TIMEOUT
            while any(next_offset[p] < ends[p] for p in range(partitions)):
                assert time.monotonic() < deadline, "read back to the end offsets"
                m = c.poll(0.2)
                if m is None:
                    continue
                assert m.error() is None, m.error()
                out[m.partition()].append((m.offset(), m.value()))
                next_offset[m.partition()] = m.offset() + 1
            return out
        finally:
            c.close()

    class Producer:
        def __init__(self, bootstrap: str, topic: str):
            from confluent_kafka import Producer

            self.topic = topic
            self.p = Producer(
                {
                    "bootstrap.servers": bootstrap,
                    **ConfluentKafka.base,
                    "acks": "all",
                    "enable.idempotence": True,
                    "linger.ms": 5,
                    "message.timeout.ms": int(TIMEOUT * 1000),
                    "retry.backoff.ms": 100,
                    "reconnect.backoff.ms": 100,
                }
            )

        def send(self, partition: int, value: bytes, done) -> None:
            def report(err, msg):
                done(err, msg.partition(), msg.offset() if err is None else None)

            self.p.produce(self.topic, value=value, partition=partition, on_delivery=report)

        def poll(self) -> None:
            self.p.poll(0)

        def close(self) -> None:
            assert self.p.flush(TIMEOUT) == 0, "undelivered records"

    class Consumer:
        settings = {"session.timeout.ms": 10000, "heartbeat.interval.ms": 1000}

        def __init__(self, bootstrap: str, group: str):
            from confluent_kafka import Consumer

            self.c = Consumer(
                {
                    "bootstrap.servers": bootstrap,
                    **ConfluentKafka.base,
                    "group.id": group,
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "fetch.wait.max.ms": 100,
                    "retry.backoff.ms": 100,
                    "reconnect.backoff.ms": 100,
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
