/** Test harness: an SDK client wired to the fake server and the fake media engine, plus an event recorder. */
import { createClient, type Api } from '../client.js'
import type { LogEntry } from '../core/logger.js'
import { FakeEngine, type FakeEngineOptions } from './fake-media.js'
import { FakeServer, accessTokenFor, idTokenFor } from './fake-server.js'

export interface RecordedEvent {
  type: string
  payload: Record<string, unknown>
}

export class EventRecorder {
  readonly events: RecordedEvent[] = []
  #waiters: Array<{ match: (e: RecordedEvent) => boolean; resolve: (e: RecordedEvent) => void }> = []

  readonly listener = (type: string, args: unknown[]) => {
    const e = { type, payload: (args[0] ?? {}) as Record<string, unknown> }
    this.events.push(e)
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.match(e)) return true
      w.resolve(e)
      return false
    })
  }

  of(type: string): Array<Record<string, unknown>> {
    return this.events.filter((e) => e.type === type).map((e) => e.payload)
  }

  types(filter?: (t: string) => boolean): string[] {
    return this.events.map((e) => e.type).filter((t) => (filter ? filter(t) : true))
  }

  /** Resolves with the first matching event recorded from now on, or already recorded after `since`. */
  waitFor(
    type: string,
    pred: (p: Record<string, unknown>) => boolean = () => true,
    timeoutMs = 3000,
  ): Promise<Record<string, unknown>> {
    const match = (e: RecordedEvent) => e.type === type && pred(e.payload)
    const found = this.events.find(match)
    if (found) return Promise.resolve(found.payload)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${type}; got ${this.types().join(', ')}`)),
        timeoutMs,
      )
      this.#waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer)
          resolve(e.payload)
        },
      })
    })
  }

  clear(): void {
    this.events.length = 0
  }
}

export interface TestClient {
  api: Api
  engine: FakeEngine
  rec: EventRecorder
  logs: LogEntry[]
  user: string
}

export function makeClient(
  server: FakeServer,
  user: string,
  config: Record<string, unknown> = {},
  engineOptions: FakeEngineOptions = {},
): TestClient {
  const engine = new FakeEngine(engineOptions)
  const logs: LogEntry[] = []
  const { call, connectivity, ...rest } = config as { call?: object; connectivity?: object }
  const api = createClient(
    {
      authentication: { server: { base: 'parley.test' }, clientCorrelator: 'sampleCorrelator' },
      logs: { logLevel: 'debug', handler: (e: LogEntry) => logs.push(e) },
      call: { callAuditTimer: 25000, ...call },
      connectivity: { ...connectivity },
      ...rest,
    },
    {
      fetch: server.fetch,
      WebSocket: server.WebSocket,
      mediaEngine: engine,
      document: () => (typeof document === 'undefined' ? undefined : document),
    },
  )
  const rec = new EventRecorder()
  api.subscribe(rec.listener)
  api.setTokens({ accessToken: accessTokenFor(user), idToken: idTokenFor(user) })
  return { api, engine, rec, logs, user }
}

/** Subscribes like the seed does and waits for the finishing `subscription:change`. */
export async function subscribe(c: TestClient): Promise<void> {
  c.api.services.subscribe(['call'], 'websocket')
  await c.rec.waitFor('subscription:change', () => {
    const s = c.api.services.getSubscriptions()
    return s.isPending === false && s.subscribed.length > 0
  })
}

/** Waits until `pred` holds, polling. */
export async function until(pred: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const start = Date.now()
  while (!pred()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

/** Lets pending timers and promises run. */
export const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms))

/** Log entries at error level (a healthy flow logs none). */
export const errorsIn = (logs: LogEntry[]) => logs.filter((l) => l.level === 'error')
