import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

/**
 * WAL checkpoints off the event loop (issue 13). SQLite's automatic checkpoint runs inside the COMMIT that
 * crosses `wal_autocheckpoint` pages, on the committing connection: it copies the WAL into the database file
 * and waits for two fsyncs, blocking every request of the process meanwhile. This worker thread, with a
 * connection of its own, runs a PASSIVE checkpoint (it never blocks the writer) every `intervalMs` instead;
 * the writer's automatic checkpoint stays as a safety net for a WAL that grows under sustained load (a WAL
 * restarts only once a checkpoint caught up with every commit). Durability is unchanged: checkpoints only
 * move committed pages from the WAL into the database file.
 */
export class Checkpointer {
  readonly #worker: Worker
  #failed = false

  constructor(filename: string, onError: (message: string) => void, intervalMs = CHECKPOINT_INTERVAL_MS) {
    const module = createRequire(import.meta.url).resolve('better-sqlite3')
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { filename, module, intervalMs } })
    this.#worker.unref()
    const fail = (message: string) => {
      if (this.#failed) return
      this.#failed = true
      onError(message)
    }
    this.#worker.on('message', (m: { error?: string }) => m.error && fail(m.error))
    this.#worker.on('error', (err) => fail(String(err)))
  }

  /** Stops the worker and closes its connection. */
  async stop(): Promise<void> {
    this.#worker.postMessage('stop')
    await this.#worker.terminate().catch(() => undefined)
  }
}

/** How often the worker checkpoints. */
const CHECKPOINT_INTERVAL_MS = 100

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.module)
const db = new Database(workerData.filename, { fileMustExist: true })
db.pragma('busy_timeout = 0')
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)')
  } catch (err) {
    if (err && err.code === 'SQLITE_BUSY') return
    parentPort.postMessage({ error: String(err) })
  }
}, workerData.intervalMs)
parentPort.on('message', (m) => {
  if (m !== 'stop') return
  clearInterval(timer)
  db.close()
  parentPort.close()
})
`
