/**
 * A holder process of the signalling benchmark (started by bench/holders.ts, not run directly): subscribes
 * its slice of the idle users exactly like the single-process generator did (token, channel, websocket with
 * one connCheck, call subscription; LoadUser.subscribe), over the same 127.0.0.x source addresses, then
 * holds the sockets — the ws library answers the node's pings, nothing else is sent — until the parent says
 * `close`. Any failure, including a held socket closing, is reported to the parent and ends this process.
 */
import type { HolderCommand, HolderReport } from './holders.js'
import { LOCAL_ADDRESSES, LoadUser, NodeHttp, pool } from './protocol-load.js'

if (!process.send) throw new Error('bench/idle-holder.ts runs as a child process of bench/holders.ts')

/** Progress reports at most this often, to keep the IPC channel quiet. */
const PROGRESS_MS = 1_000

const users: LoadUser[] = []
let https: NodeHttp[] = []
let closing = false
let failed = false

function report(message: HolderReport): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve()
    process.send!(message, undefined, undefined, () => resolve())
  })
}

function closeAll(): void {
  closing = true
  for (const u of users) u.close()
  for (const h of https) h.close()
}

async function fail(message: string): Promise<void> {
  if (failed || closing) return
  failed = true
  await report({ type: 'error', message })
  closeAll()
  process.exit(1)
}

/** A held socket that closes would make the memory figures wrong: it fails the run. */
function watch(user: LoadUser): void {
  const ws = user.ws!
  if (ws.readyState !== ws.OPEN) {
    void fail(`${user.username}'s websocket closed right after subscribing`)
    return
  }
  ws.once('close', (code) => {
    if (!closing) void fail(`${user.username}'s websocket closed (code ${code}) while held`)
  })
}

async function subscribe(command: Extract<HolderCommand, { type: 'subscribe' }>): Promise<void> {
  https = command.nodes.map((url) => new NodeHttp(url))
  for (let i = command.from; i < command.to; i++)
    users.push(new LoadUser(https[i % https.length]!, command.clientId, `u${i}`, `u${i}@${command.domain}`))
  const t0 = performance.now()
  let subscribed = 0
  let reported = t0
  await pool(users, command.concurrency, async (user, k) => {
    const i = command.from + k
    try {
      await user.subscribe(command.password, LOCAL_ADDRESSES[i % LOCAL_ADDRESSES.length]!)
    } catch (err) {
      throw new Error(`${user.username}: ${(err as Error).message}`, { cause: err })
    }
    watch(user)
    subscribed++
    if (performance.now() - reported >= PROGRESS_MS) {
      reported = performance.now()
      void report({ type: 'progress', subscribed })
    }
  })
  const seconds = (performance.now() - t0) / 1000
  // Idle subscribers make no more requests: their keep-alive HTTP connections would only take open files
  // here and in the nodes.
  for (const h of https) h.close()
  await report({ type: 'subscribed', subscribed, seconds })
}

process.on('message', (message) => {
  const command = message as HolderCommand
  if (command.type === 'subscribe') {
    subscribe(command).catch((err: unknown) => fail((err as Error).message))
  } else if (command.type === 'close') {
    closeAll()
    process.exit(0)
  }
})
// The parent is gone (crashed, killed): never outlive it.
process.once('disconnect', () => {
  closeAll()
  process.exit(0)
})
await report({ type: 'ready' })
