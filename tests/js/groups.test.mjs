// Consumer groups with kafkajs against a real fjord-broker (started here: port 0, temp dir).
//
// Two consumers in one group share a 4-partition topic (every partition owned by exactly one),
// every message produced is consumed exactly once across the pair, offsets are committed, the
// broker restarts, and a new consumer in the group resumes at the committed offsets (it gets
// exactly the messages produced after the commit).
//
// Run: `node --test tests/js` (after `npm ci` in tests/js and `cargo build -p fjord-broker`).

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Kafka, logLevel } from 'kafkajs'
import { Broker, waitUntil } from './fjord.mjs'

const PARTITIONS = 4

const client = bootstrap => new Kafka({
  clientId: 'fjord-js-tests',
  brokers: [bootstrap],
  logLevel: logLevel.NOTHING,
  retry: { retries: 10 }
})

async function produce (bootstrap, topic, msgs) {
  const producer = client(bootstrap).producer({ allowAutoTopicCreation: false })
  await producer.connect()
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: msgs.map(([partition, value]) => ({ partition, value }))
    })
  } finally {
    await producer.disconnect()
  }
}

/** A running group member: records every message and its latest assignment. */
async function member (bootstrap, groupId, topic) {
  const consumer = client(bootstrap).consumer({
    groupId,
    sessionTimeout: 10_000,
    heartbeatInterval: 1000,
    maxWaitTimeInMs: 100,
    allowAutoTopicCreation: false
  })
  const m = { consumer, records: [], assigned: new Set(), crashed: null }
  consumer.on(consumer.events.GROUP_JOIN, e => {
    m.assigned = new Set(e.payload.memberAssignment[topic] ?? [])
  })
  consumer.on(consumer.events.CRASH, e => { m.crashed = e.payload.error })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      m.records.push({ partition, offset: Number(message.offset), value: message.value.toString() })
    }
  })
  return m
}

test('kafkajs: two members split partitions, consume once, a new member resumes after a restart', { timeout: 180_000 }, async () => {
  const broker = new Broker({ 'group.initial.rebalance.delay.ms': '0' })
  let ok = false
  try {
    await broker.start()
    const topic = 'groups-kafkajs'
    const groupId = 'g-kafkajs'
    const admin = client(broker.bootstrap).admin()
    await admin.connect()
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true }), true)
    await admin.disconnect()

    const members = [await member(broker.bootstrap, groupId, topic), await member(broker.bootstrap, groupId, topic)]
    const all = [...Array(PARTITIONS).keys()]
    try {
      // Every partition owned by exactly one member, both members busy.
      await waitUntil('two members split the partitions', () => {
        members.forEach(m => assert.equal(m.crashed, null, `consumer crashed: ${m.crashed}`))
        const [a, b] = members.map(m => m.assigned)
        return a.size > 0 && b.size > 0 && a.size + b.size === PARTITIONS &&
          all.every(p => a.has(p) !== b.has(p))
      })
      const owned = members.map(m => new Set(m.assigned))

      // Produce only now, so no message is read before the split.
      const first = Array.from({ length: 200 }, (_, i) => [i % PARTITIONS, `first-${i}`])
      await produce(broker.bootstrap, topic, first)
      await waitUntil('all 200 messages consumed', () =>
        members.reduce((n, m) => n + m.records.length, 0) >= first.length)

      // Commit what each member consumed: the next offset of every partition it read.
      for (const m of members) {
        const next = new Map()
        for (const r of m.records) next.set(r.partition, Math.max(next.get(r.partition) ?? 0, r.offset + 1))
        await m.consumer.commitOffsets([...next].map(([partition, offset]) => ({ topic, partition, offset: String(offset) })))
      }

      const got = members.flatMap((m, i) => m.records.map(r => ({ ...r, member: i })))
      assert.deepEqual(got.map(r => r.value).sort(), first.map(([, v]) => v).sort(), 'every message exactly once')
      assert.equal(new Set(got.map(r => `${r.partition}:${r.offset}`)).size, got.length, 'no record read twice')
      for (const r of got) assert.ok(owned[r.member].has(r.partition), `member ${r.member} read partition ${r.partition} it does not own`)
      assert.deepEqual(members.map(m => m.assigned), owned, 'the split held')
    } finally {
      for (const m of members) await m.consumer.disconnect()
    }

    const second = Array.from({ length: 40 }, (_, i) => [i % PARTITIONS, `second-${i}`])
    await produce(broker.bootstrap, topic, second)
    await broker.restart()

    const admin2 = client(broker.bootstrap).admin()
    await admin2.connect()
    const [fetched] = await admin2.fetchOffsets({ groupId, topics: [topic] })
    await admin2.disconnect()
    assert.deepEqual(
      Object.fromEntries(fetched.partitions.map(p => [p.partition, p.offset])),
      Object.fromEntries(all.map(p => [p, '50'])),
      'committed offsets after the restart'
    )

    const fresh = await member(broker.bootstrap, groupId, topic)
    try {
      const want = second.map(([, v]) => v).sort()
      await waitUntil('the new member read the 40 new messages', () => {
        assert.equal(fresh.crashed, null, `consumer crashed: ${fresh.crashed}`)
        const old = fresh.records.filter(r => r.value.startsWith('first-'))
        assert.deepEqual(old, [], 're-read messages from before the commit')
        return fresh.records.length >= want.length
      })
      assert.deepEqual(fresh.records.map(r => r.value).sort(), want)
      const firstOffset = {}
      for (const r of fresh.records) if (!(r.partition in firstOffset)) firstOffset[r.partition] = r.offset
      assert.deepEqual(firstOffset, Object.fromEntries(all.map(p => [p, 50])), 'each partition resumed at its commit')
    } finally {
      await fresh.consumer.disconnect()
    }
    ok = true
  } finally {
    if (!ok) console.error(`----- fjord-broker log -----\n${broker.log.join('\n')}`)
    await broker.destroy()
  }
})
