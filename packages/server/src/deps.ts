import pino, { type Logger } from 'pino'
import { LocalBus } from './bus/local-bus.js'
import { RedisBus } from './bus/redis-bus.js'
import type { Bus } from './bus/types.js'
import type { Config } from './config.js'
import { PromMetrics, timedStore } from './metrics.js'
import { ChannelService } from './services/channels.js'
import { logTiming, systemClock, type Clock, type ServiceContext } from './services/context.js'
import { Notifier } from './services/notifier.js'
import { Scheduler } from './services/scheduler.js'
import { SessionService } from './services/sessions.js'
import { TokenService } from './services/tokens.js'
import { TurnService } from './services/turn.js'
import { openStore } from './store/index.js'
import type { Store } from './store/types.js'

/** Paths whose values never reach the logs (passwords, tokens, secrets). */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'access_token',
  '*.access_token',
  'id_token',
  '*.id_token',
  'refresh_token',
  '*.refresh_token',
  'turnSecret',
  '*.turnSecret',
  'req.headers.authorization',
  'headers.authorization',
  'passwordHash',
  '*.passwordHash',
  'client_secret',
  '*.client_secret',
  'secretHash',
  '*.secretHash',
]

/** The server's logger: JSON lines on stdout, secrets redacted. */
export function createLogger(config: Pick<Config, 'logLevel'>, destination?: pino.DestinationStream): Logger {
  const options = { level: config.logLevel, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }
  return destination ? pino(options, destination) : pino(options)
}

/**
 * The composition root (architecture §1): store and bus adapters chosen by configuration (`--db`:
 * SQLite or PostgreSQL; `--redis`: the Redis bus of a multi-node deployment, else the in-process one),
 * clock, logger.
 */
export async function createContext(
  config: Config,
  overrides: { store?: Store; bus?: Bus; clock?: Clock; log?: Logger; metrics?: PromMetrics } = {},
): Promise<ServiceContext & { metrics?: PromMetrics | undefined }> {
  const log = overrides.log ?? createLogger(config)
  const store =
    overrides.store ??
    (await openStore(config.db, {
      onError: (err) => log.warn({ err }, 'database connection error'),
      createDirectory: config.createDb,
    }))
  let bus = overrides.bus
  if (!bus && config.redis) {
    try {
      bus = await RedisBus.open(config.redis, { onError: (err) => log.warn({ err }, 'redis bus error') })
    } catch (error) {
      if (!overrides.store) await store.close()
      throw error
    }
  }
  // Metrics only when a listener will serve them (`--metrics-port`): otherwise nothing is counted at all.
  const metrics = overrides.metrics ?? (config.metricsPort !== null ? new PromMetrics() : undefined)
  return {
    store: metrics ? timedStore(store, metrics) : store,
    bus: bus ?? new LocalBus(),
    clock: overrides.clock ?? systemClock,
    log,
    config,
    metrics,
    ...(config.debugTiming ? { timing: logTiming(log) } : {}),
  }
}

/** Every service, wired. */
export interface Services {
  tokens: TokenService
  notifier: Notifier
  sessions: SessionService
  channels: ChannelService
  turn: TurnService
  scheduler: Scheduler
}

/** Builds the services over a context; loads the secrets they need. */
export async function createServices(ctx: ServiceContext): Promise<Services> {
  const tokens = new TokenService(ctx)
  const notifier = new Notifier(ctx)
  const sessions = new SessionService(ctx, notifier)
  const channels = new ChannelService(ctx, tokens, sessions, notifier)
  const turn = new TurnService(ctx)
  await turn.init()
  const scheduler = new Scheduler(ctx, sessions, channels)
  return { tokens, notifier, sessions, channels, turn, scheduler }
}
