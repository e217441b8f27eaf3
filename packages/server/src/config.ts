import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { BlockList } from 'node:net'
import { extname } from 'node:path'
import { parseArgs } from 'node:util'
import { parse as parseYaml } from 'yaml'
import { parseRtpengineAddress } from './media-gateway/rtpengine-client.js'
import { addCidr } from './sip/cidr.js'
import { parseHostPort, parseTrunkUri } from './sip/trunk-uri.js'
import type { SipTrunkTarget } from './sip/types.js'

/** Protocol timers (protocol §11.13 table); tests shorten them. */
export interface Timings {
  /** No-answer timer from the create (§11.8). */
  noAnswerMs: number
  /** Liveness timeout of an armed leg (§11.13). */
  livenessMs: number
  /** Delay of the repeated `Cancelled` (§11.7). */
  cancelRepeatMs: number
  /** Delay of the terminal-event re-push after a status 404 (§8.2). */
  terminalRepushMs: number
  /** Early re-offer guard (§11.12). */
  guardMs: number
  /** Transfer step deadline (§11.16, §11.17). */
  transferMs: number
  /** Channel idle floor and never-connected lifetime (§5.8). */
  channelMinIdleMs: number
  channelNeverConnectedMs: number
  /** How often the liveness and channel sweeps run. */
  sweepMs: number
  /** How often due timers are claimed. */
  timerPollMs: number
  /**
   * How long a claimed timer stays away from other claims while its node fires it; a timer whose node died
   * before completing it fires again (on any node) this long after its claim.
   */
  timerLeaseMs: number
  /** Replay buffer of delivered frames after a reconnect (§5.7). */
  replayWindowMs: number
  replayMax: number
  /** RFC 6455 ping period for dead-socket detection, and the `connCheck` period in server mode (§5.4). */
  socketPingMs: number
  /** Operator console sessions: idle timeout, and the longest a session lives however active (README "Operator console"). */
  consoleIdleMs: number
  consoleMaxMs: number
}

/** The server's typed, validated configuration. */
export interface Config {
  host: string
  port: number
  /** `sqlite:./data/parley.db`, `sqlite::memory:` or `postgres://…[?schema=NAME]`. */
  db: string
  /**
   * Processes of this node (`--workers`): 1 runs the server in this process; more makes this process a
   * cluster primary over that many worker processes sharing the port (see cluster/primary.ts).
   */
  workers: number
  /**
   * Create a missing directory of a `sqlite:` file (`--create`, or `--demo` on the default path); otherwise a
   * missing directory is a start-up error.
   */
  createDb: boolean
  /** `redis://…` of the bus shared by the nodes of a multi-node deployment; unset: the in-process bus. */
  redis?: string | undefined
  tls: { cert: string; key: string } | 'self-signed' | null
  turnUrls: string[]
  /** Shared secret of the TURN REST API (protocol §7.3); a per-deployment random one when unset. */
  turnSecret: string | undefined
  /** TURN credential lifetime in seconds (protocol §7.2: longer than any page's use). */
  turnTtl: number
  /** Access token lifetime (`expires_in`) in seconds. */
  tokenTtl: number
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** `--debug-timing`: log a timestamped `timing` line at each step of call signalling (issue 14). */
  debugTiming: boolean
  demo: boolean
  /** `--coturn`: start and supervise Debian's turnserver (see coturn.ts). */
  coturn: CoturnSettings | null
  /** Domain given to logins without `@` (protocol §3.1). */
  domain: string
  /** Largest accepted request body in bytes (413 beyond). */
  bodyLimit: number
  /** Largest accepted websocket frame in bytes. */
  maxFrameBytes: number
  /** Request rate limits, per minute (429 with Retry-After beyond). */
  rateLimits: RateLimits
  /** Directory of the demo page, or null for none. */
  demoDir: string | null
  /** Directory of the built SDK bundles served at /sdk/, or null for none. */
  sdkDir: string | null
  timings: Timings
  /** `--metrics-port`: port of the separate `GET /metrics` listener; null: no metrics listener. */
  metricsPort: number | null
  /** `--metrics-host`: address of the metrics listener. */
  metricsHost: string
  /** Anonymous click-to-call (`client_credentials` grant, issue 15). */
  anonymous: AnonymousSettings
  /** `--sip-trunk` and its companions: the SIP user agent toward one carrier trunk (issue 11); null: none. */
  sip: SipSettings | null
  /** The media gateway of PSTN calls (`--rtpengine`, `--rtpengine-spawn`; issue 11); null: none. */
  rtpengine: RtpengineSettings | null
}

/** Where Parley's rtpengine listens for ng commands, and whether Parley starts it. */
export interface RtpengineSettings {
  host: string
  port: number
  /** Total time one ng command may take, retransmissions included. */
  timeoutMs: number
  /** `--rtpengine-spawn`: start and supervise a local rtpengine (media-gateway/rtpengine-supervisor.ts). */
  spawn: RtpengineSpawnSettings | null
}

/** Settings of the supervised rtpengine. */
export interface RtpengineSpawnSettings {
  /** rtpengine's `--interface`: the address media ports open on, `IP` or `IP!ADVERTISED` behind 1:1 NAT. */
  interface: string
  minPort: number
  maxPort: number
}

/** The ng address `--rtpengine-spawn` listens on when `--rtpengine` names none (rtpengine's usual port). */
export const DEFAULT_RTPENGINE_ADDRESS = 'udp:127.0.0.1:2223'

/** Defaults of `--rtpengine-spawn` (the media port range of Debian's rtpengine.conf). */
export const DEFAULT_RTPENGINE_SPAWN: RtpengineSpawnSettings = {
  interface: '127.0.0.1',
  minPort: 30000,
  maxPort: 40000,
}

/** Settings of the SIP trunk user agent (README "SIP trunk"). */
export interface SipSettings {
  trunk: SipTrunkTarget
  /** UDP and TCP listen address (`--sip-listen`). */
  listen: { host: string; port: number }
  username: string | undefined
  password: string | undefined
  /** CIDRs whose INVITEs are accepted besides the trunk's address (`--sip-trusted`). */
  trusted: string[]
  /** Timer B: how long an outbound INVITE waits for any response (`--sip-invite-timeout`, RFC 3261: 32 s). */
  inviteTimeoutMs: number
}

/** Limits of anonymous callers (README "Anonymous calls"). */
export interface AnonymousSettings {
  /** Lifetime of an anonymous identity's tokens, seconds (`--anonymous-token-ttl`). */
  tokenTtl: number
  /** Concurrent anonymous calls per account (`--max-anonymous-calls`). */
  maxCallsPerAccount: number
  /** client_credentials grants per minute per project key. */
  tokenPerKey: number
  /** client_credentials grants per minute per client address. */
  tokenPerAddress: number
}

/** Defaults of the anonymous settings. */
export const DEFAULT_ANONYMOUS: AnonymousSettings = {
  tokenTtl: 900,
  maxCallsPerAccount: 20,
  tokenPerKey: 120,
  tokenPerAddress: 10,
}

/** Settings of the supervised turnserver. */
export interface CoturnSettings {
  /** Relay to loopback peers (tests only; production keeps loopback and private ranges denied). */
  allowLoopback: boolean
  realm: string
  userQuota: number
  totalQuota: number
  minPort: number
  maxPort: number
}

/** Defaults of `--coturn`. */
export const DEFAULT_COTURN: CoturnSettings = {
  allowLoopback: false,
  realm: 'parley',
  userQuota: 10,
  totalQuota: 1000,
  minPort: 49152,
  maxPort: 65535,
}

/**
 * Per-minute request budgets (hardening against password guessing and call floods). Counted in each process:
 * under `--workers N` every worker keeps its own counters, so a node lets up to about N times through.
 */
export interface RateLimits {
  /** Token requests per client address. */
  tokenPerAddress: number
  /** Token requests per login (whatever the address). */
  tokenPerLogin: number
  /** Call creations per user. */
  sessionsPerUser: number
  /** Concurrent calls (active legs) a user may have when starting another one. */
  concurrentCallsPerUser: number
}

/** The protocol's timer values (protocol §11.13). */
export const DEFAULT_TIMINGS: Timings = {
  noAnswerMs: 60_000,
  livenessMs: 75_000,
  cancelRepeatMs: 1_500,
  terminalRepushMs: 1_000,
  guardMs: 1_000,
  transferMs: 10_000,
  channelMinIdleMs: 120_000,
  channelNeverConnectedMs: 120_000,
  sweepMs: 5_000,
  timerPollMs: 100,
  timerLeaseMs: 30_000,
  replayWindowMs: 120_000,
  replayMax: 50,
  socketPingMs: 30_000,
  consoleIdleMs: 30 * 60_000,
  consoleMaxMs: 12 * 3_600_000,
}

/** The `--db` default: a SQLite file under ./data of the working directory. */
export const DEFAULT_DB = 'sqlite:./data/parley.db'

/** A complete configuration with defaults, overridable field by field (used by tests and the CLI). */
export function makeConfig(
  overrides: Partial<Omit<Config, 'timings'>> & { timings?: Partial<Timings> } = {},
): Config {
  const { timings, ...rest } = overrides
  return {
    anonymous: { ...DEFAULT_ANONYMOUS },
    host: '127.0.0.1',
    port: 8080,
    db: 'sqlite:./data/parley.db',
    workers: 1,
    createDb: true,
    tls: null,
    turnUrls: [],
    turnSecret: undefined,
    turnTtl: 86_400,
    tokenTtl: 3_600,
    logLevel: 'info',
    debugTiming: false,
    demo: false,
    domain: 'parley.local',
    bodyLimit: 256 * 1024,
    maxFrameBytes: 64 * 1024,
    rateLimits: { tokenPerAddress: 60, tokenPerLogin: 10, sessionsPerUser: 60, concurrentCallsPerUser: 10 },
    coturn: null,
    demoDir: null,
    sdkDir: null,
    metricsPort: null,
    metricsHost: '127.0.0.1',
    rtpengine: null,
    sip: null,
    ...rest,
    timings: { ...DEFAULT_TIMINGS, ...timings },
  }
}

/** A configuration error with a message fit for the operator. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

/** One `parley serve` flag: its type, environment variable, default as shown by `--help`, and help text. */
export interface ServeOption {
  type: 'string' | 'boolean'
  multiple?: true
  env: string
  default: string
  help: string
}

/**
 * `parley serve` flags; each has a `PARLEY_*` environment equivalent and is a key of the `--config` file
 * (README "Configuration"). The one table behind the flags, the environment, the config file and `--help`.
 */
export const SERVE_OPTIONS = {
  config: {
    type: 'string',
    env: 'PARLEY_CONFIG',
    default: 'none',
    help: 'YAML (.yaml/.yml) or JSON (.json) file whose keys are these flags without --',
  },
  host: { type: 'string', env: 'PARLEY_HOST', default: '127.0.0.1', help: 'address to listen on' },
  port: { type: 'string', env: 'PARLEY_PORT', default: '8080', help: 'port of the API, websocket and demo' },
  db: {
    type: 'string',
    env: 'PARLEY_DB',
    default: 'sqlite:./data/parley.db',
    help: 'store URL: sqlite:PATH, sqlite::memory:, postgres://…[?schema=NAME]',
  },
  workers: {
    type: 'string',
    env: 'PARLEY_WORKERS',
    default: '1',
    help: 'worker processes sharing the port, or auto (one per core); 1 runs no extra process',
  },
  redis: {
    type: 'string',
    env: 'PARLEY_REDIS',
    default: 'in-process bus (one node)',
    help: 'redis://… bus shared by several nodes',
  },
  create: {
    type: 'boolean',
    env: 'PARLEY_CREATE',
    default: 'off (on with --demo and the default --db)',
    help: 'create the directory of a sqlite: --db file when it is missing',
  },
  'tls-cert': {
    type: 'string',
    env: 'PARLEY_TLS_CERT',
    default: 'none (plain HTTP)',
    help: 'PEM certificate file (with --tls-key)',
  },
  'tls-key': { type: 'string', env: 'PARLEY_TLS_KEY', default: 'none', help: 'PEM private key file' },
  'debug-timing': {
    type: 'boolean',
    env: 'PARLEY_DEBUG_TIMING',
    default: 'off',
    help: 'log a timestamped "timing" line at each step of call signalling (request in, commit, reply, push)',
  },
  'tls-self-signed': {
    type: 'boolean',
    env: 'PARLEY_TLS_SELF_SIGNED',
    default: 'off',
    help: 'serve HTTPS/WSS with a certificate for localhost/127.0.0.1 generated at start-up',
  },
  'turn-url': {
    type: 'string',
    multiple: true,
    env: 'PARLEY_TURN_URL',
    default: 'none (with --coturn: turn:127.0.0.1:3478)',
    help: 'TURN/STUN URL given to clients, repeatable (env: comma-separated)',
  },
  'turn-secret': {
    type: 'string',
    env: 'PARLEY_TURN_SECRET',
    default: 'random, kept in the store',
    help: 'shared secret of the TURN REST API',
  },
  'turn-ttl': {
    type: 'string',
    env: 'PARLEY_TURN_TTL',
    default: '86400',
    help: 'TURN credential lifetime in seconds',
  },
  coturn: {
    type: 'boolean',
    env: 'PARLEY_COTURN',
    default: 'off',
    help: "start and supervise Debian's turnserver at the first --turn-url, sharing --turn-secret",
  },
  'coturn-allow-loopback': {
    type: 'boolean',
    env: 'PARLEY_COTURN_ALLOW_LOOPBACK',
    default: 'off',
    help: 'let coturn relay to loopback peers (tests only; private ranges stay denied)',
  },
  'coturn-realm': { type: 'string', env: 'PARLEY_COTURN_REALM', default: 'parley', help: 'TURN realm' },
  'coturn-user-quota': {
    type: 'string',
    env: 'PARLEY_COTURN_USER_QUOTA',
    default: '10',
    help: 'concurrent TURN allocations per user',
  },
  'coturn-total-quota': {
    type: 'string',
    env: 'PARLEY_COTURN_TOTAL_QUOTA',
    default: '1000',
    help: 'concurrent TURN allocations in total',
  },
  'coturn-min-port': {
    type: 'string',
    env: 'PARLEY_COTURN_MIN_PORT',
    default: '49152',
    help: 'lowest relay port',
  },
  'coturn-max-port': {
    type: 'string',
    env: 'PARLEY_COTURN_MAX_PORT',
    default: '65535',
    help: 'highest relay port',
  },
  'rate-limit-token': {
    type: 'string',
    env: 'PARLEY_RATE_LIMIT_TOKEN',
    default: '60',
    help: 'token requests per minute per client address',
  },
  'rate-limit-login': {
    type: 'string',
    env: 'PARLEY_RATE_LIMIT_LOGIN',
    default: '10',
    help: 'token requests per minute per login name',
  },
  'max-calls-per-user': {
    type: 'string',
    env: 'PARLEY_MAX_CALLS_PER_USER',
    default: '10',
    help: 'concurrent calls a user may have when starting another',
  },
  'rate-limit-calls': {
    type: 'string',
    env: 'PARLEY_RATE_LIMIT_CALLS',
    default: '60',
    help: 'calls a user may start per minute',
  },
  'token-ttl': {
    type: 'string',
    env: 'PARLEY_TOKEN_TTL',
    default: '3600',
    help: 'access token lifetime in seconds',
  },
  'log-level': {
    type: 'string',
    env: 'PARLEY_LOG_LEVEL',
    default: 'info',
    help: 'fatal|error|warn|info|debug|trace|silent',
  },
  domain: {
    type: 'string',
    env: 'PARLEY_DOMAIN',
    default: 'parley.local',
    help: 'domain for logins given without @',
  },
  demo: {
    type: 'boolean',
    env: 'PARLEY_DEMO',
    default: 'off',
    help: 'on an empty database, create a demo account with users alice and bob and print their credentials',
  },
  'anonymous-token-ttl': {
    type: 'string',
    env: 'PARLEY_ANONYMOUS_TOKEN_TTL',
    default: '900',
    help: 'lifetime of anonymous (client_credentials) tokens in seconds',
  },
  'max-anonymous-calls': {
    type: 'string',
    env: 'PARLEY_MAX_ANONYMOUS_CALLS',
    default: '20',
    help: 'concurrent anonymous calls per account',
  },
  'rate-limit-anonymous-key': {
    type: 'string',
    env: 'PARLEY_RATE_LIMIT_ANONYMOUS_KEY',
    default: '120',
    help: 'client_credentials token requests per minute per project key',
  },
  'rate-limit-anonymous-address': {
    type: 'string',
    env: 'PARLEY_RATE_LIMIT_ANONYMOUS_ADDRESS',
    default: '10',
    help: 'client_credentials token requests per minute per client address',
  },
  'metrics-port': {
    type: 'string',
    env: 'PARLEY_METRICS_PORT',
    default: 'off',
    help: 'serve Prometheus GET /metrics on this port, a listener of its own',
  },
  'metrics-host': {
    type: 'string',
    env: 'PARLEY_METRICS_HOST',
    default: '127.0.0.1',
    help: 'address of the metrics listener',
  },
  rtpengine: {
    type: 'string',
    env: 'PARLEY_RTPENGINE',
    default: `none (with --rtpengine-spawn: ${DEFAULT_RTPENGINE_ADDRESS})`,
    help: 'udp:HOST:PORT of the rtpengine media gateway (ng protocol) for PSTN calls',
  },
  'rtpengine-spawn': {
    type: 'boolean',
    env: 'PARLEY_RTPENGINE_SPAWN',
    default: 'off',
    help: "start and supervise Debian's rtpengine (package rtpengine-daemon) listening at --rtpengine",
  },
  'rtpengine-interface': {
    type: 'string',
    env: 'PARLEY_RTPENGINE_INTERFACE',
    default: DEFAULT_RTPENGINE_SPAWN.interface,
    help: 'address the spawned rtpengine opens media ports on: IP, or IP!PUBLIC-IP behind 1:1 NAT',
  },
  'rtpengine-min-port': {
    type: 'string',
    env: 'PARLEY_RTPENGINE_MIN_PORT',
    default: String(DEFAULT_RTPENGINE_SPAWN.minPort),
    help: 'lowest media (RTP) port of the spawned rtpengine',
  },
  'rtpengine-max-port': {
    type: 'string',
    env: 'PARLEY_RTPENGINE_MAX_PORT',
    default: String(DEFAULT_RTPENGINE_SPAWN.maxPort),
    help: 'highest media (RTP) port of the spawned rtpengine',
  },
  'sip-trunk': {
    type: 'string',
    env: 'PARLEY_SIP_TRUNK',
    default: 'none (no phone calls)',
    help: "the carrier's SIP trunk: sip:HOST[:PORT][;transport=udp|tcp] (port 5060, UDP by default)",
  },
  'sip-listen': {
    type: 'string',
    env: 'PARLEY_SIP_LISTEN',
    default: '127.0.0.1:5060',
    help: 'IP:PORT of the SIP user agent, UDP and TCP',
  },
  'sip-username': {
    type: 'string',
    env: 'PARLEY_SIP_USERNAME',
    default: 'none',
    help: 'digest authentication username toward the trunk (with --sip-password)',
  },
  'sip-password': {
    type: 'string',
    env: 'PARLEY_SIP_PASSWORD',
    default: 'none',
    help: 'digest authentication password toward the trunk',
  },
  'sip-trusted': {
    type: 'string',
    multiple: true,
    env: 'PARLEY_SIP_TRUSTED',
    default: "none (only the trunk's address)",
    help: 'CIDR whose INVITEs are accepted besides the trunk, repeatable (env: comma-separated)',
  },
  'sip-invite-timeout': {
    type: 'string',
    env: 'PARLEY_SIP_INVITE_TIMEOUT',
    default: '32',
    help: 'seconds an INVITE waits for any response of the trunk before the call fails (RFC 3261 Timer B)',
  },
} as const satisfies Record<string, ServeOption>

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

function positiveInt(name: string, text: string, max = 2 ** 31): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n <= 0 || n > max)
    throw new ConfigError(`--${name} must be a positive integer, got "${text}"`)
  return n
}

/** Most worker processes one node may run; far beyond any core count, it only catches typos. */
export const MAX_WORKERS = 256

function workerCount(text: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN
  if (!(n >= 1 && n <= MAX_WORKERS))
    throw new ConfigError(`--workers must be auto or an integer from 1 to ${MAX_WORKERS}, got "${text}"`)
  return n
}

/**
 * Reads a `--config` file: YAML (`.yaml`, `.yml`) or JSON (`.json`) whose keys are the `parley serve` flags
 * without `--`. Values are checked against the flag's type here, so that a mistake names the key and the file;
 * numbers are accepted where a flag takes a number (ports, counts), arrays where it is repeatable.
 */
export function loadConfigFile(path: string): Record<string, string | boolean | string[]> {
  const ext = extname(path).toLowerCase()
  if (!['.yaml', '.yml', '.json'].includes(ext))
    throw new ConfigError(`--config ${path}: the file must end in .yaml, .yml or .json`)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(
      `--config ${path}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    )
  }
  let doc: unknown
  try {
    doc = ext === '.json' ? JSON.parse(text) : parseYaml(text)
  } catch (err) {
    throw new ConfigError(
      `--config ${path}: not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`,
    )
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new ConfigError(`--config ${path}: expected a mapping of flag names to values`)
  const out: Record<string, string | boolean | string[]> = {}
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const def = (SERVE_OPTIONS as Record<string, ServeOption>)[key]
    if (!def || key === 'config')
      throw new ConfigError(
        `--config ${path}: unknown key "${key}" (the keys are the parley serve flags without --)`,
      )
    if (value === null || value === undefined) continue
    const wrong = (expected: string) =>
      new ConfigError(`--config ${path}: "${key}" must be ${expected}, got ${JSON.stringify(value)}`)
    if (def.type === 'boolean') {
      if (typeof value !== 'boolean') throw wrong('true or false')
      out[key] = value
    } else if (def.multiple) {
      const list = Array.isArray(value) ? value : [value]
      if (!list.every((v) => typeof v === 'string')) throw wrong('a string or a list of strings')
      out[key] = list as string[]
    } else {
      if (typeof value !== 'string' && typeof value !== 'number') throw wrong('a string or a number')
      out[key] = String(value)
    }
  }
  return out
}

/** Parses `parley serve` flags, falling back to `PARLEY_*` variables, then the `--config` file, into a Config. */
export function parseServeConfig(argv: string[], env: NodeJS.ProcessEnv, base: Partial<Config> = {}): Config {
  const options = Object.fromEntries(
    Object.entries(SERVE_OPTIONS).map(([k, v]) => [
      k,
      { type: v.type, ...('multiple' in v ? { multiple: true } : {}) },
    ]),
  ) as Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>
  let values: Record<string, string | boolean | string[] | undefined>
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as typeof values
  } catch (err) {
    throw new ConfigError((err as Error).message)
  }
  const configFile = (values.config as string | undefined) ?? (env.PARLEY_CONFIG || undefined)
  const file = configFile ? loadConfigFile(configFile) : {}
  // Precedence: flags > PARLEY_* environment > the --config file > defaults.
  // Where each value came from, so that an invalid one is reported where the operator wrote it.
  const sources = new Map<string, string>()
  const get = (name: keyof typeof SERVE_OPTIONS): string | boolean | string[] | undefined => {
    if (values[name] !== undefined) return values[name]
    const def = SERVE_OPTIONS[name]
    const raw = env[def.env]
    if (raw === undefined || raw === '') {
      if (file[name] !== undefined) sources.set(name, `--config ${configFile}: key "${name}": `)
      return file[name]
    }
    sources.set(name, `${def.env}: `)
    if (def.type === 'boolean') return raw === '1' || raw.toLowerCase() === 'true'
    if ('multiple' in def)
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    return raw
  }
  const str = (name: keyof typeof SERVE_OPTIONS) => get(name) as string | undefined
  try {
    return buildServeConfig(get, str, base)
  } catch (err) {
    const flag = err instanceof ConfigError ? /^--([a-z-]+)/.exec(err.message)?.[1] : undefined
    const source = flag ? sources.get(flag) : undefined
    throw source ? new ConfigError(source + (err as Error).message) : err
  }
}

/** Validates the values `get` finds (flags, env or file) into a Config; errors name the flag. */
function buildServeConfig(
  get: (name: keyof typeof SERVE_OPTIONS) => string | boolean | string[] | undefined,
  str: (name: keyof typeof SERVE_OPTIONS) => string | undefined,
  base: Partial<Config>,
): Config {
  const cfg = makeConfig(base)
  if (str('host')) cfg.host = str('host')!
  if (str('port')) cfg.port = str('port') === '0' ? 0 : positiveInt('port', str('port')!, 65535) // 0: any free port
  if (str('db')) cfg.db = str('db')!
  const workers = str('workers')
  if (workers !== undefined) cfg.workers = workers === 'auto' ? availableParallelism() : workerCount(workers)
  // Each process opening `sqlite::memory:` would get a database of its own, so workers would not share state.
  if (cfg.workers > 1 && cfg.db.trim() === 'sqlite::memory:')
    throw new ConfigError(
      '--workers above 1 needs a shared store: a sqlite: file or postgres://, not sqlite::memory:',
    )
  const redis = str('redis')
  if (redis) {
    // The URL is not echoed: it may carry a password.
    if (!/^rediss?:\/\/[^\s]*$/i.test(redis))
      throw new ConfigError('--redis must be a redis:// or rediss:// URL')
    cfg.redis = redis
  }
  const cert = str('tls-cert')
  const key = str('tls-key')
  if (Boolean(cert) !== Boolean(key)) throw new ConfigError('--tls-cert and --tls-key go together')
  if (cert && key) cfg.tls = { cert, key }
  if (get('tls-self-signed') === true) {
    if (cfg.tls) throw new ConfigError('--tls-self-signed cannot be combined with --tls-cert/--tls-key')
    cfg.tls = 'self-signed'
  }
  const turn = get('turn-url') as string[] | undefined
  if (turn) {
    for (const url of turn) {
      if (!/^(turns?|stuns?):[^\s'"\\<>]+$/.test(url))
        throw new ConfigError(`--turn-url must be a turn:, turns:, stun: or stuns: URL, got "${url}"`)
    }
    cfg.turnUrls = turn
  }
  if (str('turn-secret')) cfg.turnSecret = str('turn-secret')
  if (str('turn-ttl')) cfg.turnTtl = positiveInt('turn-ttl', str('turn-ttl')!)
  const coturnFlags = [
    'coturn-allow-loopback',
    'coturn-realm',
    'coturn-user-quota',
    'coturn-total-quota',
    'coturn-min-port',
    'coturn-max-port',
  ] as const
  if (get('coturn') === true) {
    const c: CoturnSettings = { ...DEFAULT_COTURN, allowLoopback: get('coturn-allow-loopback') === true }
    if (str('coturn-realm')) c.realm = str('coturn-realm')!
    if (str('coturn-user-quota')) c.userQuota = positiveInt('coturn-user-quota', str('coturn-user-quota')!)
    if (str('coturn-total-quota'))
      c.totalQuota = positiveInt('coturn-total-quota', str('coturn-total-quota')!)
    if (str('coturn-min-port')) c.minPort = positiveInt('coturn-min-port', str('coturn-min-port')!, 65535)
    if (str('coturn-max-port')) c.maxPort = positiveInt('coturn-max-port', str('coturn-max-port')!, 65535)
    if (c.minPort > c.maxPort) throw new ConfigError('--coturn-min-port must not exceed --coturn-max-port')
    cfg.coturn = c
  } else {
    const stray = coturnFlags.find((f) => get(f) !== undefined && get(f) !== false)
    if (stray) throw new ConfigError(`--${stray} goes with --coturn`)
  }
  if (str('rate-limit-token'))
    cfg.rateLimits.tokenPerAddress = positiveInt('rate-limit-token', str('rate-limit-token')!)
  if (str('rate-limit-login'))
    cfg.rateLimits.tokenPerLogin = positiveInt('rate-limit-login', str('rate-limit-login')!)
  if (str('max-calls-per-user')) {
    cfg.rateLimits.concurrentCallsPerUser = positiveInt('max-calls-per-user', str('max-calls-per-user')!)
  }
  if (str('rate-limit-calls'))
    cfg.rateLimits.sessionsPerUser = positiveInt('rate-limit-calls', str('rate-limit-calls')!)
  if (str('token-ttl')) cfg.tokenTtl = positiveInt('token-ttl', str('token-ttl')!)
  const level = str('log-level')
  if (level) {
    if (!(LOG_LEVELS as readonly string[]).includes(level))
      throw new ConfigError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`)
    cfg.logLevel = level as Config['logLevel']
  }
  if (str('domain')) cfg.domain = str('domain')!.toLowerCase()
  if (get('demo') === true) cfg.demo = true
  if (get('debug-timing') === true) cfg.debugTiming = true
  // The quickstart's `serve --demo` on the default path makes ./data; anything else must exist or say --create.
  cfg.createDb = get('create') === true || (cfg.demo && cfg.db === DEFAULT_DB)
  // Anonymous click-to-call (issue 15).
  const anon = [
    ['anonymous-token-ttl', 'tokenTtl'],
    ['max-anonymous-calls', 'maxCallsPerAccount'],
    ['rate-limit-anonymous-key', 'tokenPerKey'],
    ['rate-limit-anonymous-address', 'tokenPerAddress'],
  ] as const
  for (const [flag, field] of anon) {
    const text = str(flag)
    if (text) cfg.anonymous[field] = positiveInt(flag, text)
  }
  cfg.rtpengine = rtpengineSettings(str('rtpengine'), get('rtpengine-spawn') === true, {
    interface: str('rtpengine-interface'),
    minPort: str('rtpengine-min-port'),
    maxPort: str('rtpengine-max-port'),
  })
  const metricsPort = str('metrics-port')
  if (metricsPort) cfg.metricsPort = metricsPort === '0' ? 0 : positiveInt('metrics-port', metricsPort, 65535)
  if (str('metrics-host')) {
    if (cfg.metricsPort === null) throw new ConfigError('--metrics-host goes with --metrics-port')
    cfg.metricsHost = str('metrics-host')!
  }
  cfg.sip = parseSipSettings(str, get('sip-trusted') as string[] | undefined)
  // SIP transactions live in the memory of the process that holds the socket: worker processes sharing one
  // UDP port would each see a random part of a call's retransmissions and ACKs.
  if (cfg.sip && cfg.workers > 1)
    throw new ConfigError('--sip-trunk needs --workers 1: SIP transactions live in one process')
  return cfg
}

/** `--rtpengine` and `--rtpengine-spawn` with its settings → RtpengineSettings, or null when neither is set. */
function rtpengineSettings(
  address: string | undefined,
  spawn: boolean,
  spawnFlags: { interface: string | undefined; minPort: string | undefined; maxPort: string | undefined },
): RtpengineSettings | null {
  if (!spawn) {
    const stray = Object.entries({
      'rtpengine-interface': spawnFlags.interface,
      'rtpengine-min-port': spawnFlags.minPort,
      'rtpengine-max-port': spawnFlags.maxPort,
    }).find(([, v]) => v !== undefined)
    if (stray) throw new ConfigError(`--${stray[0]} goes with --rtpengine-spawn`)
    if (!address) return null
  }
  let parsed: { host: string; port: number }
  try {
    parsed = parseRtpengineAddress(address ?? DEFAULT_RTPENGINE_ADDRESS)
  } catch (err) {
    throw new ConfigError((err as Error).message)
  }
  if (!spawn) return { ...parsed, timeoutMs: 3_000, spawn: null }
  const settings: RtpengineSpawnSettings = { ...DEFAULT_RTPENGINE_SPAWN }
  if (spawnFlags.interface !== undefined) {
    // rtpengine's syntax: [NAME/]IP[!ADVERTISED-IP]; passed on as one argument, never through a shell.
    if (!/^([A-Za-z0-9_-]+\/)?[0-9A-Fa-f.:]+(![0-9A-Fa-f.:]+)?$/.test(spawnFlags.interface))
      throw new ConfigError(
        `--rtpengine-interface must be IP or IP!ADVERTISED-IP (rtpengine's --interface), got "${spawnFlags.interface}"`,
      )
    settings.interface = spawnFlags.interface
  }
  if (spawnFlags.minPort !== undefined)
    settings.minPort = positiveInt('rtpengine-min-port', spawnFlags.minPort, 65535)
  if (spawnFlags.maxPort !== undefined)
    settings.maxPort = positiveInt('rtpengine-max-port', spawnFlags.maxPort, 65535)
  if (settings.minPort > settings.maxPort)
    throw new ConfigError('--rtpengine-min-port must not exceed --rtpengine-max-port')
  return { ...parsed, timeoutMs: 3_000, spawn: settings }
}

/** The `--sip-*` flags: all of them go with `--sip-trunk`. */
function parseSipSettings(
  str: (name: keyof typeof SERVE_OPTIONS) => string | undefined,
  trusted: string[] | undefined,
): SipSettings | null {
  const companions = ['sip-listen', 'sip-username', 'sip-password', 'sip-invite-timeout'] as const
  const trunkText = str('sip-trunk')
  if (!trunkText) {
    const stray =
      companions.find((f) => str(f) !== undefined) ?? (trusted?.length ? 'sip-trusted' : undefined)
    if (stray) throw new ConfigError(`--${stray} goes with --sip-trunk`)
    return null
  }
  const attempt = <T>(fn: () => T): T => {
    try {
      return fn()
    } catch (err) {
      throw new ConfigError((err as Error).message)
    }
  }
  const trunk = attempt(() => parseTrunkUri(trunkText))
  const listen = attempt(() => parseHostPort(str('sip-listen') ?? '127.0.0.1:5060'))
  const username = str('sip-username')
  const password = str('sip-password')
  if (Boolean(username) !== Boolean(password))
    throw new ConfigError('--sip-username and --sip-password go together')
  const list = trusted ?? []
  for (const cidr of list) attempt(() => addCidr(new BlockList(), cidr))
  const timeout = str('sip-invite-timeout')
  return {
    trunk,
    listen,
    username,
    password,
    trusted: list,
    inviteTimeoutMs: timeout ? positiveInt('sip-invite-timeout', timeout, 3600) * 1000 : 32_000,
  }
}
