import { createServer, type Server } from 'node:http'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Metrics } from './services/metrics.js'
import type { SipCounters, SipTrunk } from './sip/types.js'
import type { Store } from './store/types.js'

/** Seconds buckets of the call setup time (create → answer): people answer within seconds to a minute. */
const SETUP_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120]
/** MOS buckets (ITU-T P.800 scale as the E-model maps it: 4.3+ is excellent, below 3.1 most users complain). */
const MOS_BUCKETS = [1, 1.5, 2, 2.5, 3, 3.5, 3.8, 4, 4.2, 4.3, 4.4, 4.5]
/** Round-trip seconds: loopback and LAN in the first buckets, 400 ms is the high-rtt warning. */
const RTT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 1, 2]
/** Loss fractions: 3 % is the high-packet-loss warning. */
const LOSS_BUCKETS = [0, 0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1]
/** Jitter seconds: 30 ms is the high-jitter warning. */
const JITTER_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5]
/** Seconds buckets of store operations and HTTP requests. */
const FAST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

/**
 * The prom-client implementation of the services' Metrics interface, on a registry of its own (one per server,
 * so that several servers in one test process do not mix), with prom-client's default process metrics.
 */
export class PromMetrics implements Metrics {
  /** The registry `/metrics` serves. */
  readonly registry = new Registry()
  readonly #callsStarted: Counter
  readonly #callsAnswered: Counter
  readonly #callsEnded: Counter<'outcome' | 'reason'>
  readonly #activeCalls: Gauge
  readonly #setup: Histogram
  readonly #sockets: Gauge
  readonly #queued: Counter
  readonly #delivered: Counter
  readonly #replayed: Counter
  readonly #rateLimited: Counter<'route'>
  readonly #http: Counter<'method' | 'route' | 'status'>
  readonly #httpDuration: Histogram<'method' | 'route'>
  readonly #store: Histogram<'operation'>
  readonly #qualitySamples: Counter
  readonly #mos: Histogram
  readonly #rtt: Histogram
  readonly #loss: Histogram
  readonly #jitter: Histogram
  readonly #qualityWarnings: Counter<'warning'>
  readonly #pstnCalls: Counter<'direction' | 'outcome'>

  constructor() {
    const registers = [this.registry]
    // The standard names (process_cpu_seconds_total, nodejs_eventloop_lag_seconds, …) that dashboards expect.
    collectDefaultMetrics({ register: this.registry })
    this.#callsStarted = new Counter({ name: 'parley_calls_started_total', help: 'Calls created', registers })
    this.#callsAnswered = new Counter({
      name: 'parley_calls_answered_total',
      help: 'Calls answered',
      registers,
    })
    this.#callsEnded = new Counter({
      name: 'parley_calls_ended_total',
      help: 'Calls ended, by outcome (answered/unanswered) and end reason',
      labelNames: ['outcome', 'reason'],
      registers,
    })
    this.#activeCalls = new Gauge({
      name: 'parley_calls_active',
      help: 'Calls started minus calls ended by this process (the sum over nodes is the active calls)',
      registers,
    })
    this.#setup = new Histogram({
      name: 'parley_call_setup_seconds',
      help: 'Time from call creation to answer',
      buckets: SETUP_BUCKETS,
      registers,
    })
    this.#sockets = new Gauge({
      name: 'parley_channel_websockets',
      help: 'Notification channel websockets connected to this process',
      registers,
    })
    this.#queued = new Counter({
      name: 'parley_notifications_queued_total',
      help: 'Notification frames appended to channel queues',
      registers,
    })
    this.#delivered = new Counter({
      name: 'parley_notifications_delivered_total',
      help: 'Queued notification frames sent on a websocket',
      registers,
    })
    this.#replayed = new Counter({
      name: 'parley_notifications_replayed_total',
      help: 'Recently delivered frames sent again after a reconnect',
      registers,
    })
    this.#rateLimited = new Counter({
      name: 'parley_rate_limited_total',
      help: 'Requests refused with 429, by route pattern',
      labelNames: ['route'],
      registers,
    })
    this.#http = new Counter({
      name: 'parley_http_requests_total',
      help: 'HTTP responses by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    })
    this.#httpDuration = new Histogram({
      name: 'parley_http_request_duration_seconds',
      help: 'HTTP request duration by method and route pattern',
      labelNames: ['method', 'route'],
      buckets: FAST_BUCKETS,
      registers,
    })
    this.#store = new Histogram({
      name: 'parley_store_operation_seconds',
      help: 'Store method latency by operation',
      labelNames: ['operation'],
      buckets: FAST_BUCKETS,
      registers,
    })
    this.#qualitySamples = new Counter({
      name: 'parley_call_quality_samples_total',
      help: 'Call quality samples reported by clients',
      registers,
    })
    this.#mos = new Histogram({
      name: 'parley_call_quality_mos',
      help: 'Reported audio MOS estimates (E-model, ITU-T G.107 simplified), one per sample',
      buckets: MOS_BUCKETS,
      registers,
    })
    this.#rtt = new Histogram({
      name: 'parley_call_quality_rtt_seconds',
      help: 'Reported round-trip times, one per sample',
      buckets: RTT_BUCKETS,
      registers,
    })
    this.#loss = new Histogram({
      name: 'parley_call_quality_packet_loss_ratio',
      help: 'Reported inbound packet loss fraction (largest of audio and video), one per sample',
      buckets: LOSS_BUCKETS,
      registers,
    })
    this.#jitter = new Histogram({
      name: 'parley_call_quality_jitter_seconds',
      help: 'Reported received-audio jitter, one per sample',
      buckets: JITTER_BUCKETS,
      registers,
    })
    this.#qualityWarnings = new Counter({
      name: 'parley_call_quality_warnings_total',
      help: 'Quality warnings raised by clients, by warning',
      labelNames: ['warning'],
      registers,
    })
    this.#pstnCalls = new Counter({
      name: 'parley_pstn_calls_total',
      help: 'Calls to and from phone numbers ended, by direction (outbound/inbound) and outcome (answered/unanswered)',
      labelNames: ['direction', 'outcome'],
      registers,
    })
  }

  /**
   * The SIP user agent's own counters (issue 11), read at each scrape: messages in and out, what it refused or
   * dropped by reason, retransmissions, timeouts, challenges, INVITEs, and the dialogs it holds.
   */
  watchSip(sip: Pick<SipTrunk, 'counters' | 'dialogCount' | 'messageCounts'>): void {
    const registers = [this.registry]
    // Each series: name, help, its label and, per label value, the counter it shows (no label: one value).
    type Key = keyof SipCounters
    const series: [string, string, string | undefined, [string, Key][]][] = [
      [
        'parley_sip_rejected_total',
        'SIP messages refused or dropped, by reason',
        'reason',
        [
          ['malformed', 'malformed'],
          ['oversized', 'oversized'],
          ['binary', 'binary'],
          ['unknown_dialog', 'unknownDialog'],
          ['untrusted', 'untrusted'],
          ['rate_limited', 'rateLimited'],
        ],
      ],
      [
        'parley_sip_invites_total',
        'SIP INVITEs accepted for routing (in) and sent to the trunk (out)',
        'direction',
        [
          ['in', 'invitesIn'],
          ['out', 'invitesOut'],
        ],
      ],
      [
        'parley_sip_retransmissions_total',
        'SIP retransmissions sent (UDP)',
        undefined,
        [['', 'retransmissions']],
      ],
      [
        'parley_sip_timeouts_total',
        'SIP transactions that timed out, and 2xx never ACKed',
        undefined,
        [['', 'timeouts']],
      ],
      [
        'parley_sip_auth_challenges_total',
        'SIP 401/407 challenges answered',
        undefined,
        [['', 'authChallenges']],
      ],
    ]
    new Counter({
      name: 'parley_sip_messages_total',
      help: 'SIP messages received (in) and sent (out) by the trunk user agent, by method (response, invalid, other)',
      labelNames: ['direction', 'method'],
      registers,
      collect(this: Counter) {
        this.reset()
        for (const { direction, method, count } of sip.messageCounts()) this.inc({ direction, method }, count)
      },
    })
    for (const [name, help, label, values] of series)
      new Counter({
        name,
        help,
        labelNames: label ? [label] : [],
        registers,
        collect(this: Counter) {
          const counters = sip.counters()
          this.reset()
          for (const [value, key] of values) this.inc(label ? { [label]: value } : {}, counters[key])
        },
      })
    new Gauge({
      name: 'parley_sip_dialogs',
      help: 'SIP dialogs the trunk user agent holds (established calls, restored ones included)',
      registers,
      collect(this: Gauge) {
        this.set(sip.dialogCount())
      },
    })
  }

  /**
   * The media gateway (rtpengine) of PSTN calls, asked at each scrape (one ng `list`, bounded by the client's
   * timeout): whether it answered, and how many calls it holds (Parley's and any other user's of that rtpengine).
   */
  watchMediaGateway(gateway: { list(): Promise<string[]> }): void {
    const registers = [this.registry]
    let answered: Promise<string[] | undefined> | undefined
    // Both gauges are collected in one scrape: one `list` serves them.
    const ask = () =>
      (answered ??= gateway
        .list()
        .catch(() => undefined)
        .finally(() => setImmediate(() => (answered = undefined))))
    new Gauge({
      name: 'parley_media_gateway_up',
      // Every worker asks the same rtpengine: the primary's sum would count its calls once per worker.
      aggregator: 'max',
      help: 'Whether the media gateway (rtpengine) answered its ng list command at this scrape (1) or not (0)',
      registers,
      async collect(this: Gauge) {
        this.set((await ask()) ? 1 : 0)
      },
    })
    new Gauge({
      name: 'parley_media_gateway_calls',
      // Every worker asks the same rtpengine: the primary's sum would count its calls once per worker.
      aggregator: 'max',
      help: 'Calls the media gateway (rtpengine) holds, as its ng list answers (0 when it did not answer)',
      registers,
      async collect(this: Gauge) {
        this.set((await ask())?.length ?? 0)
      },
    })
  }

  callStarted(): void {
    this.#callsStarted.inc()
    this.#activeCalls.inc()
  }

  callAnswered(setupMs: number): void {
    this.#callsAnswered.inc()
    this.#setup.observe(setupMs / 1000)
  }

  callEnded(outcome: 'answered' | 'unanswered', reason: string): void {
    this.#callsEnded.inc({ outcome, reason })
    this.#activeCalls.dec()
  }

  channelSocketOpened(): void {
    this.#sockets.inc()
  }

  channelSocketClosed(): void {
    this.#sockets.dec()
  }

  notificationsQueued(count: number): void {
    this.#queued.inc(count)
  }

  notificationsDelivered(count: number): void {
    this.#delivered.inc(count)
  }

  notificationsReplayed(count: number): void {
    this.#replayed.inc(count)
  }

  rateLimited(route: string): void {
    this.#rateLimited.inc({ route })
  }

  httpRequest(method: string, route: string, status: number, seconds: number): void {
    this.#http.inc({ method, route, status: String(status) })
    this.#httpDuration.observe({ method, route }, seconds)
  }

  storeOperation(operation: string, seconds: number): void {
    this.#store.observe({ operation }, seconds)
  }

  qualitySample(sample: {
    mos?: number
    rttSeconds?: number
    packetLoss?: number
    jitterSeconds?: number
  }): void {
    this.#qualitySamples.inc()
    if (sample.mos !== undefined) this.#mos.observe(sample.mos)
    if (sample.rttSeconds !== undefined) this.#rtt.observe(sample.rttSeconds)
    if (sample.packetLoss !== undefined) this.#loss.observe(sample.packetLoss)
    if (sample.jitterSeconds !== undefined) this.#jitter.observe(sample.jitterSeconds)
  }

  qualityWarning(warning: string): void {
    this.#qualityWarnings.inc({ warning })
  }

  pstnCallEnded(direction: 'outbound' | 'inbound', outcome: 'answered' | 'unanswered'): void {
    this.#pstnCalls.inc({ direction, outcome })
  }

  /** Exposes `store`'s commit count as `parley_store_commits_total`, when the adapter keeps one. */
  countStoreCommits(store: Store): void {
    const count = store.commitCount?.bind(store)
    if (!count) return
    let reported = 0
    new Counter({
      name: 'parley_store_commits_total',
      help: 'Write transactions committed by this process (SQLite: one per group of writes)',
      registers: [this.registry],
      collect() {
        const now = count()
        this.inc(now - reported)
        reported = now
      },
    })
  }
}

/** Wraps every method of `store` so that its duration is observed as `storeOperation(name, seconds)`. */
export function timedStore(store: Store, metrics: Metrics): Store {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown
      if (typeof value !== 'function') return value
      const method = value as (...args: unknown[]) => Promise<unknown>
      // Bound to the adapter itself: its #private fields are not reachable through the proxy.
      if (typeof property !== 'string' || property === 'close') return method.bind(target)
      return async (...args: unknown[]) => {
        const started = process.hrtime.bigint()
        try {
          return await method.apply(target, args)
        } finally {
          metrics.storeOperation(property, Number(process.hrtime.bigint() - started) / 1e9)
        }
      }
    },
  })
}

/** A `GET /metrics` listener of its own (never the public API port); `collect` gives the exposition text. */
export async function startMetricsServer(
  host: string,
  port: number,
  collect: () => Promise<{ contentType: string; text: string }>,
  onError: (err: unknown) => void = () => undefined,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n')
      return
    }
    collect().then(
      ({ contentType, text }) => res.writeHead(200, { 'Content-Type': contentType }).end(text),
      (err: unknown) => {
        onError(err)
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end('metrics unavailable\n')
      },
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  const address = server.address()
  const actual = typeof address === 'object' && address ? address.port : port
  const shown = host.includes(':') ? `[${host}]` : host
  return {
    server,
    url: `http://${shown}:${actual}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
