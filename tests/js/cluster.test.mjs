// kafkajs against a three-node fjord cluster (issue 11), on an RF 3, min.insync.replicas=2 topic:
// 1. an idempotent acks=all producer writes numbered records while the test kill -9s the leader
//    of partition 0; kafkajs refreshes its metadata (NOT_LEADER_OR_FOLLOWER / disconnect) and
//    carries on on the new leader; the killed broker restarts and rejoins the ISR;
// 2. a consumer reads back every acknowledged record exactly once, at its acknowledged offset, in
//    order per partition;
// 3. a group member reads the topic and commits; the group's coordinator broker is kill -9'd; the
//    member goes on reading new records (none it committed) and commits on the new coordinator; a
//    fresh member starts exactly at those commits; the killed broker restarts and rejoins the ISR.
//
// Run: `node --test tests/js` (after `npm ci` in tests/js; FJORD_BROKER_BIN or a built broker).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Kafka, logLevel } from 'kafkajs'
import { Cluster, waitUntil } from './fjord.mjs'

const PARTITIONS = 3
const TOPIC = 'replicated'
const GROUP = 'cluster-group'
const BATCH = 10 // records per send(), all to one partition
const SETTINGS = {
  'min.insync.replicas': '2',
  'replica.lag.time.max.ms': '1500',
  'group.initial.rebalance.delay.ms': '0'
}
const all = [...Array(PARTITIONS).keys()]

const kafka = brokers => new Kafka({
  clientId: 'fjord-js-cluster',
  brokers,
  logLevel: logLevel.NOTHING,
  connectionTimeout: 1000,
  requestTimeout: 10_000,
  retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1000 }
})

const idempotentProducer = brokers =>
  kafka(brokers).producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })

const allInSync = parts => all.every(p => parts[p]?.isr.size === 3)

/** Sends (partition, value) pairs in one request per partition; waits for every acknowledgement. */
async function produceBatch (brokers, values) {
  const producer = idempotentProducer(brokers)
  await producer.connect()
  try {
    await producer.send({ topic: TOPIC, acks: -1, messages: values.map(([partition, value]) => ({ partition, value })) })
  } finally {
    await producer.disconnect()
  }
}

/** A running group member: records every message (partition, offset, value). */
async function member (brokers, groupId) {
  const consumer = kafka(brokers).consumer({
    groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 100,
    allowAutoTopicCreation: false
  })
  const m = { consumer, records: [], crashed: null, joins: 0, restarts: [] }
  consumer.on(consumer.events.GROUP_JOIN, () => { m.joins++ })
  consumer.on(consumer.events.CRASH, e => {
    if (e.payload.restart) m.restarts.push(`${e.payload.error.name}: ${e.payload.error.message}`)
    else m.crashed = e.payload.error
  })
  await consumer.connect()
  await consumer.subscribe({ topics: [TOPIC], fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      m.records.push({ partition, offset: Number(message.offset), value: message.value.toString() })
    }
  })
  return m
}

/**
 * Waits until `m` holds at least `n` distinct records (partition/offset) from its `from`th on,
 * failing on a crash or on a record `bad` flags.
 */
async function readUntil (m, n, what, bad = () => false, from = 0) {
  await waitUntil(what, () => {
    assert.equal(m.crashed, null, `consumer crashed: ${m.crashed}`)
    const recs = m.records.slice(from)
    assert.deepEqual(recs.filter(bad), [], `${what}: unexpected records`)
    return new Set(recs.map(r => `${r.partition}/${r.offset}`)).size >= n
  })
}

/** Commits `offsets` ({ partition: next offset }), retrying while the coordinator moves. */
async function commit (m, offsets) {
  const errors = []
  await waitUntil('a commit succeeds', async () => {
    try {
      await m.consumer.commitOffsets(Object.entries(offsets).map(([partition, offset]) =>
        ({ topic: TOPIC, partition: Number(partition), offset: String(offset) })))
      return true
    } catch (e) {
      errors.push(`${e.name}: ${e.message}`)
      return false
    }
  })
  return errors
}

async function committed (brokers) {
  const admin = kafka(brokers).admin()
  await admin.connect()
  try {
    const [t] = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] })
    return Object.fromEntries(t.partitions.map(p => [p.partition, Number(p.offset)]))
  } finally {
    await admin.disconnect()
  }
}

test('kafkajs: an idempotent producer and a group survive a kill -9 of the leader and of the coordinator', { timeout: 120_000 }, async () => {
  const started = Date.now()
  const cluster = await Cluster.start(3, SETTINGS)
  let ok = false
  const members = []
  try {
    const admin = kafka(cluster.bootstrap()).admin()
    await admin.connect()
    assert.equal(await admin.createTopics({ topics: [{ topic: TOPIC, numPartitions: PARTITIONS, replicationFactor: 3 }], waitForLeaders: true }), true)
    await admin.disconnect()
    const parts = await cluster.waitForPartitions(0, TOPIC, 'all replicas in sync', allInSync)

    // --- 1. kill -9 the leader of partition 0 while the idempotent producer writes ----------
    const leader = parts[0].leader
    const producer = idempotentProducer(cluster.bootstrap())
    await producer.connect()
    const outcomes = new Map() // seq -> { error, partition, offset, at }
    let sent = 0
    let halt = false
    // One writer per partition, each awaiting its send() (kafkajs keeps an idempotent
    // producer's requests in order with maxInFlightRequests: 1).
    const writer = async partition => {
      for (let batch = 0; !halt && batch < 150; batch++) { // at most 1500 records a partition
        const seqs = Array.from({ length: BATCH }, () => sent++)
        try {
          const [r] = await producer.send({
            topic: TOPIC,
            acks: -1,
            messages: seqs.map(seq => ({ partition, value: String(seq) }))
          })
          const at = Date.now()
          seqs.forEach((seq, i) => outcomes.set(seq, { partition, offset: Number(r.baseOffset) + i, at, error: null }))
        } catch (e) {
          seqs.forEach(seq => outcomes.set(seq, { partition, error: `${e.name}: ${e.message}`, at: Date.now() }))
        }
      }
    }
    const acked = (since, partition = null) => [...outcomes].filter(([s, o]) =>
      s >= since && o.error === null && (partition === null || o.partition === partition)).length
    const writers = all.map(writer)
    await waitUntil('300 records acknowledged before the kill', () => acked(0) >= 300)
    await cluster.nodes[leader].kill9()
    const killedAt = Date.now()
    const sentBeforeKill = sent
    const survivor = cluster.anyRunning()
    await cluster.waitForPartitions(survivor, TOPIC, `partition 0 led by another in-sync replica than ${leader}`,
      ps => ps[0].leader !== -1 && ps[0].leader !== leader && !ps[0].isr.has(leader))
    await waitUntil('100 records of partition 0 sent after the kill acknowledged', () => acked(sentBeforeKill, 0) >= 100)
    halt = true
    await Promise.all(writers)
    await producer.disconnect()
    const failed = [...outcomes].filter(([, o]) => o.error !== null)
    assert.deepEqual(failed, [], 'every record acknowledged')
    assert.equal(outcomes.size, sent)
    // Records of partition 0 sent after the kill can only be acknowledged by its new leader.
    const resumed = (Math.min(...[...outcomes].filter(([s, o]) => o.partition === 0 && s >= sentBeforeKill).map(([, o]) => o.at)) - killedAt) / 1000
    assert.ok(resumed < 15, `partition 0 took writes again ${resumed}s after the kill`)

    await cluster.nodes[leader].start()
    await cluster.waitForPartitions(survivor, TOPIC, `${leader} back in every ISR`, allInSync)

    // --- 2. every acknowledged record exactly once, at its offset, in order ------------------
    const reader = await member(cluster.bootstrap(), 'read-back')
    members.push(reader)
    await readUntil(reader, outcomes.size, `read back ${outcomes.size} records`)
    await reader.consumer.disconnect()
    members.pop()
    for (const p of all) {
      const recs = reader.records.filter(r => r.partition === p)
      const seqs = recs.map(r => Number(r.value))
      assert.equal(new Set(seqs).size, seqs.length, `partition ${p}: duplicates`)
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `partition ${p}: out of order`)
    }
    const at = new Map(reader.records.map(r => [`${r.partition}/${r.offset}`, Number(r.value)]))
    for (const [seq, o] of outcomes) {
      assert.equal(at.get(`${o.partition}/${o.offset}`), seq, `record ${seq} acknowledged at ${o.partition}/${o.offset}`)
    }
    assert.equal(at.size, outcomes.size, 'only acknowledged records in the log')
    const ends = Object.fromEntries(all.map(p =>
      [p, Math.max(-1, ...reader.records.filter(r => r.partition === p).map(r => r.offset)) + 1]))

    // --- 3. a group member commits; its coordinator is kill -9'd; it carries on -------------
    const m = await member(cluster.bootstrap(), GROUP)
    members.push(m)
    await readUntil(m, outcomes.size, 'the member read the log')
    assert.equal(new Set(m.records.map(r => `${r.partition}/${r.offset}`)).size, outcomes.size, 'the member read the log once')
    await commit(m, ends)
    assert.deepEqual(await committed(cluster.bootstrap()), ends)

    const coordinator = await cluster.coordinator(survivor, GROUP)
    assert.notEqual(coordinator, null, 'the group has a coordinator')
    await cluster.nodes[coordinator].kill9()
    const alive = cluster.anyRunning()
    await waitUntil(`a coordinator other than ${coordinator}`, async () =>
      ![null, coordinator].includes(await cluster.coordinator(alive, GROUP)))

    const second = Array.from({ length: 60 }, (_, i) => [i % PARTITIONS, `second-${i}`])
    await produceBatch(cluster.bootstrap(), second)
    const before = m.records.length
    const joinsBefore = m.joins
    // Records not yet committed may come again (at least once) if the member rejoins.
    await readUntil(m, second.length, 'after the kill the member read the 60 new records',
      r => !r.value.startsWith('second-'), before)
    const afterKill = m.records.slice(before).map(r => r.value)
    assert.deepEqual([...new Set(afterKill)].sort(), second.map(([, v]) => v).sort())
    const rejoins = m.joins - joinsBefore
    const again = afterKill.length - new Set(afterKill).size
    const ends2 = Object.fromEntries(all.map(p => [p, ends[p] + 20]))
    const commitErrors = await commit(m, ends2)
    assert.deepEqual(await committed(cluster.bootstrap()), ends2, 'commits on the new coordinator')
    await m.consumer.disconnect()
    members.pop()

    const third = Array.from({ length: 30 }, (_, i) => [i % PARTITIONS, `third-${i}`])
    await produceBatch(cluster.bootstrap(), third)
    const fresh = await member(cluster.bootstrap(), GROUP)
    members.push(fresh)
    await readUntil(fresh, third.length, 'the fresh member read the 30 new records', r => !r.value.startsWith('third-'))
    const firstOffsets = {}
    for (const r of fresh.records) if (!(r.partition in firstOffsets)) firstOffsets[r.partition] = r.offset
    assert.deepEqual(firstOffsets, ends2, 'the fresh member starts at the commits')
    await fresh.consumer.disconnect()
    members.pop()

    await cluster.nodes[coordinator].start()
    await cluster.waitForPartitions(alive, TOPIC, `${coordinator} back in every ISR`, allInSync)
    console.log(`kafkajs: ${outcomes.size} records, ${outcomes.size - sentBeforeKill} sent after the kill; ` +
      `partition 0 resumed ${resumed}s after it; after the coordinator kill: ${rejoins} rejoins, ` +
      `${again} uncommitted records read again, consumer restarts ${JSON.stringify(m.restarts)}, ` +
      `commit retries ${JSON.stringify(commitErrors)}; ` +
      `${(Date.now() - started) / 1000}s`)
    ok = true
  } finally {
    for (const m of members) await m.consumer.disconnect().catch(() => {})
    if (!ok) console.error(cluster.logs())
    await cluster.destroy()
  }
})
