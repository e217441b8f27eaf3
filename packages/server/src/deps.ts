import pino, { type Logger } from 'pino'
import { LocalBus } from './bus/local-bus.js'
import { RedisBus } from './bus/redis-bus.js'
import type { Bus } from './bus/types.js'
import type { Config } from './config.js'
import { RtpengineClient } from './media-gateway/rtpengine-client.js'
import { RtpengineSupervisor } from './media-gateway/rtpengine-supervisor.js'
import type { MediaGateway } from './media-gateway/types.js'
import { PromMetrics, timedStore } from './metrics.js'
import { ChannelService } from './services/channels.js'
import { logTiming, systemClock, type Clock, type ServiceContext } from './services/context.js'
import { Notifier } from './services/notifier.js'
import { NumberService } from './services/numbers.js'
import { Scheduler } from './services/scheduler.js'
import { QualityService } from './services/quality.js'
import { SessionService } from './services/sessions.js'
import { TokenService } from './services/tokens.js'
import { TurnService } from './services/turn.js'
import { SipUserAgent } from './sip/index.js'
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
  overrides: {
    store?: Store
    bus?: Bus
    clock?: Clock
    log?: Logger
    metrics?: PromMetrics
    /** A media gateway to use instead of the one `--rtpengine` names (tests). */
    mediaGateway?: MediaGateway
  } = {},
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
  metrics?.countStoreCommits(store)
  return {
    store: metrics ? timedStore(store, metrics) : store,
    bus: bus ?? new LocalBus(),
    clock: overrides.clock ?? systemClock,
    log,
    config,
    metrics,
    ...(config.debugTiming ? { timing: logTiming(log) } : {}),
    ...(overrides.mediaGateway ? { mediaGateway: overrides.mediaGateway } : {}),
  }
}

/** The media gateway of a server, with the rtpengine it supervises (`--rtpengine-spawn`). */
export interface MediaGatewayHandle {
  gateway: MediaGateway
  supervisor: RtpengineSupervisor | undefined
  /** Closes the client, then stops the supervised rtpengine. */
  close(): Promise<void>
}

/**
 * The optional media gateway (issue 11): undefined when neither `--rtpengine` nor `--rtpengine-spawn` is set.
 * With `--rtpengine-spawn` a local rtpengine is started first and this resolves once it answers (or rejects with
 * one line, e.g. naming the rtpengine-daemon package); with `--rtpengine` alone an rtpengine that does not
 * answer is logged, not fatal: `/readyz` reports it until it does.
 */
export async function createMediaGateway(
  config: Config,
  log: Logger,
): Promise<MediaGatewayHandle | undefined> {
  const settings = config.rtpengine
  if (!settings) return undefined
  let supervisor: RtpengineSupervisor | undefined
  if (settings.spawn) {
    supervisor = new RtpengineSupervisor({ host: settings.host, port: settings.port, ...settings.spawn }, log)
    await supervisor.start()
  }
  const gateway = new RtpengineClient({
    host: settings.host,
    port: settings.port,
    timeoutMs: settings.timeoutMs,
  })
  if (!supervisor) {
    await gateway.ping().then(
      () => log.info({ rtpengine: gateway.address }, 'rtpengine answers'),
      (err: unknown) => log.warn({ err }, 'rtpengine does not answer yet; PSTN calls fail until it does'),
    )
  }
  return {
    gateway,
    supervisor,
    async close() {
      await gateway.close()
      await supervisor?.stop()
    },
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
  /** Telephone number lookups for PSTN routing (inbound number → user, caller ID). */
  numbers: NumberService
  quality: QualityService
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
  const quality = new QualityService(ctx)
  return { tokens, notifier, sessions, channels, turn, scheduler, numbers: new NumberService(ctx), quality }
}

/**
 * The SIP user agent toward `--sip-trunk` (issue 11), not yet started; undefined without `--sip-trunk`. main.ts
 * gives it to the services (`ctx.sipTrunk`) and routes its inbound INVITEs to `SessionService.inboundPstn`.
 */
export function createSipTrunk(config: Config, log: Logger): SipUserAgent | undefined {
  const sip = config.sip
  if (!sip) return undefined
  return new SipUserAgent({
    trunk: sip.trunk,
    listen: sip.listen,
    username: sip.username,
    password: sip.password,
    trusted: sip.trusted,
    timers: { inviteTimeoutMs: sip.inviteTimeoutMs },
    log: log.child({ component: 'sip' }),
  })
}
