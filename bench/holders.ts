/**
 * The signalling benchmark's idle subscribers, held in child processes ("holders", bench/idle-holder.ts).
 * Every idle subscriber is one open socket in the generator, and one process may have only as many open
 * files as its hard limit (20,000 where bench/run.sh cannot raise it, without CAP_SYS_RESOURCE), so 50,000
 * subscribers need several processes: each holder takes a consecutive slice of the users, logs them in and
 * subscribes them exactly as a lone generator would (LoadUser.subscribe), then keeps the sockets open until
 * told to close. The holders report progress over IPC; a holder that fails, dies, or loses a held socket
 * fails the run, and none outlives this process (closed explicitly, killed on exit, and each exits by
 * itself when its IPC channel to this process goes away).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const HOLDER_ENTRY = fileURLToPath(new URL('./idle-holder.ts', import.meta.url))
const STDERR_KEPT = 8 * 1024
/** A holder that reports nothing for this long while starting or subscribing is stuck (so is its node). */
const STALL_MS = 60_000
/** How long a holder may take to close its sockets and exit before it is killed. */
const CLOSE_GRACE_MS = 5_000
const PROGRESS_LOG_MS = 10_000

/** Parent → holder. */
export type HolderCommand =
  | {
      type: 'subscribe'
      /** Base URLs of the nodes; user i (global index) subscribes through node i % nodes.length. */
      nodes: string[]
      clientId: string
      password: string
      domain: string
      /** Users u<from> … u<to - 1>. */
      from: number
      to: number
      concurrency: number
    }
  | { type: 'close' }

/** Holder → parent. */
export type HolderReport =
  | { type: 'ready' }
  | { type: 'progress'; subscribed: number }
  | { type: 'subscribed'; subscribed: number; seconds: number }
  | { type: 'error'; message: string }

/** What a subscribe run asks of the holders. */
export interface SubscribePlan {
  nodes: string[]
  clientId: string
  password: string
  domain: string
  /** Global index of the first user; the holders take consecutive slices of `count` users. */
  from: number
  count: number
  /** Subscribes in flight per holder. */
  concurrency: number
}

export interface SubscribeResult {
  /** Wall-clock time until every holder had subscribed its slice. */
  seconds: number
  holders: { users: string; subscribers: number; subscribePerS: number }[]
}

interface Holder {
  label: string
  child: ChildProcess
  stderr: string
  ready: boolean
  subscribed: number
  done: boolean
  seconds: number
  exited: boolean
  closed: Promise<void>
}

// Last resort, as for the nodes in e2e/cluster.ts: an exit without close() (an exception, process.exit)
// leaves no holder behind. A holder also exits by itself on 'disconnect', which covers SIGKILL of this one.
const live = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL')
})

/** A set of holder processes. */
export class Holders {
  readonly #holders: Holder[] = []
  #failure: Error | undefined
  #closing = false
  /** Called on every report and on failure: the pending waits re-check their condition. */
  readonly #watchers = new Set<(progressed: boolean) => void>()

  private constructor(count: number) {
    for (let i = 0; i < count; i++) this.#holders.push(this.#fork(`holder ${i + 1}`))
  }

  /** Starts `count` holders and waits until each has loaded (so that start-up is not in the subscribe rate). */
  static async start(count: number): Promise<Holders> {
    const holders = new Holders(count)
    try {
      await holders.#wait(() => holders.#holders.every((h) => h.ready), 'starting')
    } catch (err) {
      await holders.close()
      throw err
    }
    return holders
  }

  get count(): number {
    return this.#holders.length
  }

  /** Pids of the running holders (their CPU time counts as the generator's). */
  get pids(): number[] {
    return this.#holders.flatMap((h) => (h.exited || h.child.pid === undefined ? [] : [h.child.pid]))
  }

  /** Has every holder subscribe its slice of the users, all at once; resolves when all are subscribed. */
  async subscribe(plan: SubscribePlan): Promise<SubscribeResult> {
    const size = Math.ceil(plan.count / this.#holders.length)
    const t0 = performance.now()
    this.#holders.forEach((h, i) => {
      const from = plan.from + Math.min(plan.count, i * size)
      const to = plan.from + Math.min(plan.count, (i + 1) * size)
      h.label += ` (u${from}…u${to - 1})`
      h.done = from === to
      if (h.done) return
      const command: HolderCommand = {
        type: 'subscribe',
        nodes: plan.nodes,
        clientId: plan.clientId,
        password: plan.password,
        domain: plan.domain,
        from,
        to,
        concurrency: plan.concurrency,
      }
      h.child.send(command)
    })
    const progress = setInterval(() => {
      const n = this.#holders.reduce((sum, h) => sum + h.subscribed, 0)
      const s = (performance.now() - t0) / 1000
      console.log(`  subscribed ${n} of ${plan.count} idle users (${Math.round(n / s)}/s)`)
    }, PROGRESS_LOG_MS)
    try {
      await this.#wait(() => this.#holders.every((h) => h.done), 'subscribing')
    } finally {
      clearInterval(progress)
    }
    return {
      seconds: (performance.now() - t0) / 1000,
      holders: this.#holders.map((h) => ({
        users: h.label,
        subscribers: h.subscribed,
        subscribePerS: h.seconds > 0 ? Math.round((h.subscribed / h.seconds) * 10) / 10 : 0,
      })),
    }
  }

  /** Throws what went wrong since the subscribers were held (a socket closed, a holder died), if anything. */
  check(): void {
    if (this.#failure) throw this.#failure
  }

  /** Fails the run from outside (something the parent watches went wrong): pending waits reject with it. */
  abort(message: string): void {
    if (this.#closing || this.#failure) return
    this.#failure = new Error(message)
    for (const w of this.#watchers) w(false)
  }

  /** Asks every holder to close its sockets and exit; kills those still running after a grace period. */
  async close(): Promise<void> {
    this.#closing = true
    await Promise.all(
      this.#holders.map(async (h) => {
        if (h.exited) return
        if (h.child.connected) h.child.send({ type: 'close' } satisfies HolderCommand, () => undefined)
        else h.child.kill('SIGTERM')
        const timer = setTimeout(() => h.child.kill('SIGKILL'), CLOSE_GRACE_MS)
        await h.closed
        clearTimeout(timer)
      }),
    )
  }

  #fork(label: string): Holder {
    const child = fork(HOLDER_ENTRY, [], {
      // The holder is TypeScript like this script; `tsx` resolves from the repository root (bench/run.sh).
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      serialization: 'json',
    })
    live.add(child)
    let settle: () => void = () => undefined
    const h: Holder = {
      label,
      child,
      stderr: '',
      ready: false,
      subscribed: 0,
      done: false,
      seconds: 0,
      exited: false,
      closed: new Promise((resolve) => (settle = resolve)),
    }
    child.stderr!.on('data', (chunk: Buffer) => {
      h.stderr = (h.stderr + chunk.toString('utf8')).slice(-STDERR_KEPT)
    })
    child.on('message', (message) => this.#onReport(h, message as HolderReport))
    child.once('error', (err) => {
      this.#fail(h, `could not start: ${err.message}`)
      // A process that never started sends no 'close'.
      if (child.pid === undefined) {
        h.exited = true
        live.delete(child)
        settle()
      }
    })
    // 'close' rather than 'exit': it comes after stderr has been read to its end, for the error message.
    child.once('close', (code, signal) => {
      h.exited = true
      live.delete(child)
      if (!this.#closing) {
        const stderr = h.stderr.trim()
        this.#fail(h, `exited unexpectedly (${signal ?? `code ${code}`})${stderr ? `:\n${stderr}` : ''}`)
      }
      settle()
    })
    return h
  }

  #onReport(h: Holder, report: HolderReport): void {
    switch (report.type) {
      case 'ready':
        h.ready = true
        break
      case 'progress':
        h.subscribed = report.subscribed
        break
      case 'subscribed':
        h.subscribed = report.subscribed
        h.seconds = report.seconds
        h.done = true
        break
      case 'error':
        this.#fail(h, report.message)
        return
    }
    for (const w of this.#watchers) w(true)
  }

  /** Records the first failure (later ones are consequences) unless the holders are being closed. */
  #fail(h: Holder, message: string): void {
    if (this.#closing || this.#failure) return
    this.#failure = new Error(`idle-subscriber ${h.label}: ${message}`)
    for (const w of this.#watchers) w(false)
  }

  /** Resolves once `done()` holds; rejects on a failure or when no holder reported anything for STALL_MS. */
  #wait(done: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined
      const finish = (err?: Error) => {
        clearTimeout(timer)
        this.#watchers.delete(check)
        if (err) reject(err)
        else resolve()
      }
      const arm = () => {
        clearTimeout(timer)
        timer = setTimeout(
          () =>
            finish(
              new Error(`idle-subscriber holders: nothing reported for ${STALL_MS / 1000} s while ${what}`),
            ),
          STALL_MS,
        )
      }
      const check = (progressed: boolean) => {
        if (this.#failure) finish(this.#failure)
        else if (done()) finish()
        else if (progressed) arm()
      }
      this.#watchers.add(check)
      arm()
      check(false)
    })
  }
}
