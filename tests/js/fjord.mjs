// Shared helpers for the kafkajs tests: real fjord-broker processes (one, or a three-node
// cluster), raw Metadata and FindCoordinator requests to one given node, and polling with a
// deadline.
//
// The broker binary is $FJORD_BROKER_BIN, else $CARGO_TARGET_DIR/debug/fjord-broker, else
// <repo>/target/debug/fjord-broker (as the Rust and Python tests find it).

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, existsSync } from 'node:fs'
import { createServer, createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const TIMEOUT_MS = 60_000

export function brokerBin () {
  if (process.env.FJORD_BROKER_BIN) return process.env.FJORD_BROKER_BIN
  let target = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target')
  if (!path.isAbsolute(target)) target = path.join(ROOT, target)
  return path.join(target, 'debug', 'fjord-broker')
}

export async function waitUntil (what, cond, timeoutMs = TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/**
 * A fjord-broker process whose data directory survives restarts; `bootstrap` changes per start.
 * `settings` are extra `--set key=value` pairs (after, so overriding, the defaults).
 */
export class Broker {
  constructor (settings = {}) {
    this.tmp = mkdtempSync(path.join(tmpdir(), 'fjord-js-'))
    this.settings = settings
    this.log = []
    this.proc = null
    this.bootstrap = ''
  }

  /** Spawns the process without waiting for `broker ready` (cluster nodes get ready together). */
  launch () {
    const bin = brokerBin()
    assert.ok(existsSync(bin), `${bin} missing: run \`cargo build -p fjord-broker\` or set FJORD_BROKER_BIN`)
    const pairs = {
      'log.dirs': path.join(this.tmp, 'data'),
      listeners: 'PLAINTEXT://127.0.0.1:0',
      'metrics.port': '0',
      ...this.settings
    }
    const args = Object.entries(pairs).flatMap(([k, v]) => ['--set', `${k}=${v}`])
    this.log.push(`=== start ${bin} ${args.join(' ')}`)
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    this.proc = proc
    this.exited = new Promise(resolve => proc.on('exit', (code, signal) => resolve({ code, signal })))
    createInterface({ input: proc.stdout }).on('line', l => this.log.push(l))
    this.ready = new Promise((resolve, reject) => {
      createInterface({ input: proc.stderr }).on('line', l => {
        this.log.push(l)
        const m = /broker ready kafka_addr=(\S+)/.exec(l)
        if (m) resolve(m[1])
      })
      this.exited.then(({ code, signal }) =>
        reject(new Error(`broker exited (${code ?? signal}) before ready:\n${this.log.join('\n')}`)))
    })
    this.ready.catch(() => {}) // reported by waitReady()
  }

  /** Waits until the process launched last logs `broker ready`; reads its address. */
  async waitReady () {
    let timer
    const timeout = new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`broker not ready:\n${this.log.join('\n')}`)), TIMEOUT_MS)
    })
    try {
      this.bootstrap = await Promise.race([this.ready, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  async start () {
    this.launch()
    await this.waitReady()
  }

  get running () {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null
  }

  async stop () {
    this.proc.kill('SIGTERM')
    const { code, signal } = await this.exited
    assert.equal(code, 0, `broker exited with ${code ?? signal} after SIGTERM`)
    this.proc = null
  }

  async kill9 () {
    this.proc.kill('SIGKILL')
    await this.exited
    this.proc = null
  }

  async restart () {
    await this.stop()
    await this.start()
  }

  async destroy () {
    if (this.running) {
      this.proc.kill('SIGKILL')
      await this.exited
    }
    rmSync(this.tmp, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------------------------------------
// Raw requests (header v1, non-flexible versions) to exactly one broker: no client routing.
// ---------------------------------------------------------------------------------------------

function kstr (s) {
  const b = Buffer.from(s)
  const len = Buffer.alloc(2)
  len.writeInt16BE(b.length)
  return Buffer.concat([len, b])
}

class Reader {
  constructor (buf) { this.buf = buf; this.pos = 0 }
  i8 () { return this.buf.readInt8(this.pos++) }
  i16 () { const v = this.buf.readInt16BE(this.pos); this.pos += 2; return v }
  i32 () { const v = this.buf.readInt32BE(this.pos); this.pos += 4; return v }
  str () {
    const n = this.i16()
    if (n < 0) return null
    const v = this.buf.toString('utf8', this.pos, this.pos + n)
    this.pos += n
    return v
  }

  array (item) { return Array.from({ length: Math.max(this.i32(), 0) }, () => item()) }
}

/** One request to `addr`; resolves to a Reader of the response body after the correlation id. */
export function rawRequest (addr, apiKey, version, body) {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))]
  const header = Buffer.alloc(8)
  header.writeInt16BE(apiKey, 0)
  header.writeInt16BE(version, 2)
  header.writeInt32BE(7, 4)
  const msg = Buffer.concat([header, kstr('fjord-js'), body])
  const size = Buffer.alloc(4)
  size.writeInt32BE(msg.length)
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host, port }, () => sock.write(Buffer.concat([size, msg])))
    sock.setTimeout(10_000, () => sock.destroy(new Error(`no answer from ${addr}`)))
    let got = Buffer.alloc(0)
    sock.on('data', d => {
      got = Buffer.concat([got, d])
      if (got.length >= 4 && got.length >= 4 + got.readInt32BE(0)) {
        sock.end()
        const r = new Reader(got.subarray(4, 4 + got.readInt32BE(0)))
        if (r.i32() !== 7) reject(new Error('correlation id'))
        else resolve(r)
      }
    })
    sock.on('error', reject)
  })
}

/**
 * Metadata v4 from exactly `addr` for `topics` (no auto-creation):
 * { brokers: Set<id>, controller, topics: { name: { partition: { leader, replicas, isr: Set } } } }
 * (topics answered with an error are left out).
 */
export async function metadata (addr, topics = []) {
  const count = Buffer.alloc(4)
  count.writeInt32BE(topics.length)
  const r = await rawRequest(addr, 3, 4, Buffer.concat([count, ...topics.map(kstr), Buffer.from([0])]))
  r.i32() // throttle
  const brokers = new Set(r.array(() => { const id = r.i32(); r.str(); r.i32(); r.str(); return id }))
  r.str() // cluster id
  const controller = r.i32()
  const out = {}
  r.array(() => {
    const err = r.i16()
    const name = r.str()
    r.i8() // is_internal
    const parts = {}
    r.array(() => {
      r.i16()
      const index = r.i32()
      const leader = r.i32()
      const replicas = r.array(() => r.i32())
      const isr = new Set(r.array(() => r.i32()))
      parts[index] = { leader, replicas, isr }
    })
    if (err === 0) out[name] = parts
  })
  return { brokers, controller, topics: out }
}

/** The coordinator of `group` as exactly `addr` answers it (FindCoordinator v1); null on error. */
export async function findCoordinator (addr, group) {
  const r = await rawRequest(addr, 10, 1, Buffer.concat([kstr(group), Buffer.from([0])]))
  r.i32() // throttle
  const err = r.i16()
  r.str()
  const node = r.i32()
  return err === 0 ? node : null
}

async function freePorts (n) {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => {
    const s = createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => resolve(s))
  })))
  const ports = servers.map(s => s.address().port)
  await Promise.all(servers.map(s => new Promise(resolve => s.close(resolve))))
  return ports
}

/**
 * `n` brokers on 127.0.0.1 forming one metadata quorum (every node broker and controller, node
 * `i` has node.id `i`), with the short timeouts of tests/src/cluster.rs. Each node is a `Broker`
 * (`cluster.nodes[i].kill9()`, `.start()` again); Kafka ports are 0, controller ports fixed.
 */
export class Cluster {
  static SETTINGS = {
    'controller.quorum.election.timeout.ms': '300',
    'controller.quorum.fetch.timeout.ms': '1000',
    'broker.session.timeout.ms': '2000',
    'broker.heartbeat.interval.ms': '300',
    'offsets.topic.num.partitions': '3'
  }

  static async start (n = 3, settings = {}) {
    const ports = await freePorts(n)
    const voters = ports.map((p, i) => `${i}@127.0.0.1:${p}`).join(',')
    const c = new Cluster()
    c.nodes = ports.map((port, i) => new Broker({
      'node.id': String(i),
      listeners: `PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:${port}`,
      'controller.quorum.voters': voters,
      ...Cluster.SETTINGS,
      ...settings
    }))
    try {
      c.nodes.forEach(node => node.launch())
      for (const node of c.nodes) await node.waitReady()
      const all = [...Array(n).keys()].join(',')
      for (let i = 0; i < n; i++) {
        await waitUntil(`node ${i} lists brokers ${all}`, async () =>
          [...(await c.metadata(i)).brokers].sort().join(',') === all)
      }
    } catch (e) {
      await c.destroy()
      throw e
    }
    return c
  }

  /** Every running node's Kafka address. */
  bootstrap () { return this.nodes.filter(n => n.running).map(n => n.bootstrap) }

  anyRunning (but = -1) { return this.nodes.findIndex((n, i) => n.running && i !== but) }

  metadata (i, topics = []) { return metadata(this.nodes[i].bootstrap, topics) }

  /** `topic`'s partitions as node `i` reports them ({} while it does not know it). */
  async partitions (i, topic) { return (await this.metadata(i, [topic])).topics[topic] ?? {} }

  /** Waits until node `i` reports `topic` with partitions `ok` accepts; returns them. */
  async waitForPartitions (i, topic, what, ok) {
    let parts
    await waitUntil(`node ${i}: ${topic}: ${what}`, async () => {
      parts = await this.partitions(i, topic)
      return Object.keys(parts).length > 0 && ok(parts)
    })
    return parts
  }

  coordinator (i, group) { return findCoordinator(this.nodes[i].bootstrap, group) }

  logs () { return this.nodes.map((n, i) => `----- node ${i} -----\n${n.log.join('\n')}`).join('\n') }

  async destroy () { for (const n of this.nodes) await n.destroy() }
}
