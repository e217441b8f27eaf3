/**
 * Private backing services and Parley nodes as child processes, for tests and benchmarks that run inside a
 * loopback-only network namespace (docs/testing.md "Databases and bus"): PostgreSQL initialised
 * into a temporary directory, Redis without persistence, `parley serve` nodes and nginx in front of them.
 * Every `stop()` is idempotent and also works on a process that already died (or was killed on purpose).
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const PARLEY_BIN = fileURLToPath(new URL('../packages/server/bin/parley.js', import.meta.url))
const OUTPUT_KEPT = 64 * 1024

// Last resort when the test or benchmark process exits without stopping what it started (a crash, or a
// runner killing it): no PostgreSQL, Redis, node or nginx outlives it.
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/** A child process with the tail of its output, for error messages. */
export interface Proc {
  readonly name: string
  readonly child: ChildProcess
  /** The last 64 kB of stdout and stderr. */
  output(): string
  /** Whether the process has exited. */
  readonly exited: boolean
  /** Waits for a line of output matching `pattern` (bounded); fails with the output when it exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>
  /** `signal` (default SIGTERM), then SIGKILL after `graceMs`; resolves once exited. Idempotent. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>
}

/** Spawns `command` with its output kept in memory. */
export function startProc(
  name: string,
  command: string,
  args: string[],
  options: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Proc {
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid } : {}),
  })
  running.add(child)
  let output = ''
  let exited = false
  const waiters = new Set<() => void>()
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEPT)
    for (const w of waiters) w()
  }
  child.stdout!.on('data', append)
  child.stderr!.on('data', append)
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = true
      running.delete(child)
      output += `\n[${name} exited: ${signal ?? code}]`
      for (const w of waiters) w()
      resolve()
    }),
  )
  child.once('error', (err) => {
    output += `\n[${name} failed to start: ${err.message}]`
    exited = true
    for (const w of waiters) w()
  })
  return {
    name,
    child,
    output: () => output,
    get exited() {
      return exited
    },
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(output)
          if (m) done(() => resolve(m))
          else if (exited) done(() => reject(new Error(`${name} exited before ${pattern}:\n${output}`)))
        }
        const timer = setTimeout(
          () => done(() => reject(new Error(`${name}: no ${pattern} within ${timeoutMs} ms:\n${output}`))),
          timeoutMs,
        )
        const done = (settle: () => void) => {
          clearTimeout(timer)
          waiters.delete(check)
          settle()
        }
        waiters.add(check)
        check()
      })
    },
    async stop(signal = 'SIGTERM', graceMs = 5_000) {
      if (exited || child.exitCode !== null || child.signalCode !== null) return
      child.kill(signal)
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      await exit
      clearTimeout(timer)
    },
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** A running backing service. */
export interface Service {
  url: string
  proc: Proc
  stop(): Promise<void>
}

function postgresBin(name: string): string {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : []
  for (const v of versions) {
    const bin = join(root, v, 'bin', name)
    if (existsSync(bin)) return bin
  }
  throw new Error(`${name} not found under ${root}/*/bin; install Debian's postgresql (.ci/run does)`)
}

function userIds(name: string): { uid: number; gid: number } {
  const id = (flag: string) => Number(spawnSync('id', [flag, name], { encoding: 'utf8' }).stdout.trim())
  const uid = id('-u')
  if (!Number.isInteger(uid) || uid <= 0) throw new Error(`no system user "${name}"`)
  return { uid, gid: id('-g') }
}

/**
 * A private PostgreSQL: `initdb` into a temporary directory and `postgres` on a free port, as the
 * `postgres` system user (PostgreSQL refuses to run as root). `settings` become `-c name=value`.
 * The URL names the `postgres` database with trust authentication.
 */
export async function startPostgres(settings: Record<string, string> = {}): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-pg-'))
  const ids = process.getuid?.() === 0 ? userIds('postgres') : undefined
  if (ids) chownSync(dir, ids.uid, ids.gid)
  const data = join(dir, 'data')
  const env = { ...process.env, LC_ALL: 'C', HOME: dir }
  const init = spawnSync(
    postgresBin('initdb'),
    ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions'],
    { encoding: 'utf8', env, ...(ids ?? {}) },
  )
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`initdb failed: ${init.stderr}${init.stdout}`)
  }
  const port = await freePort()
  const args = ['-D', data, '-k', dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1']
  for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`)
  const proc = startProc('postgres', postgresBin('postgres'), args, { env, ...(ids ?? {}) })
  const stop = async () => {
    await proc.stop('SIGINT', 10_000) // "fast" shutdown: disconnects clients instead of waiting for them
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await proc.waitFor(/database system is ready to accept connections/, 30_000)
  } catch (err) {
    await stop()
    throw err
  }
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, proc, stop }
}

/** A private Redis on a free port, without persistence. */
export async function startRedis(): Promise<Service> {
  const port = await freePort()
  const proc = startProc('redis', 'redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ])
  try {
    await proc.waitFor(/Ready to accept connections/, 20_000)
  } catch (err) {
    await proc.stop('SIGKILL')
    throw err
  }
  return { url: `redis://127.0.0.1:${port}`, proc, stop: () => proc.stop('SIGTERM') }
}

/** Runs a `parley` admin command (`parley account create …`) and returns its stdout. */
export function parleyCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [PARLEY_BIN, ...args], { encoding: 'utf8' }, (err, stdout, stderr) =>
      err ? reject(new Error(`parley ${args.join(' ')} failed: ${stderr || err.message}`)) : resolve(stdout),
    ),
  )
}

/** A `parley serve` child process. */
export interface ParleyNode extends Service {
  port: number
  /** `127.0.0.1:port`, as nginx names the upstream. */
  address: string
}

/**
 * Starts `parley serve --port <free port> …extra` (the built CLI; `npm run build` first) and waits until it
 * listens. `nodeArgs` go to node itself (e.g. `--cpu-prof`); `workers` adds `--workers N` (one node of N
 * worker processes, children of the `parley serve` process).
 */
export async function startNode(
  name: string,
  extra: string[],
  options: { nodeArgs?: string[]; env?: NodeJS.ProcessEnv; workers?: number } = {},
): Promise<ParleyNode> {
  const port = await freePort()
  const workers = options.workers !== undefined ? ['--workers', String(options.workers)] : []
  // A primary gives its workers up to 10 s (cluster/primary.ts SHUTDOWN_TIMEOUT_MS) to close their sockets;
  // killing it sooner would leave them running without it.
  const graceMs = (options.workers ?? 1) > 1 ? 15_000 : 5_000
  const proc = startProc(
    name,
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      PARLEY_BIN,
      'serve',
      '--port',
      String(port),
      '--log-level',
      'warn',
      ...workers,
      ...extra,
    ],
    { env: options.env ?? process.env },
  )
  try {
    await proc.waitFor(/Parley is running at (\S+)/, 30_000)
  } catch (err) {
    await proc.stop('SIGKILL')
    throw err
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    address: `127.0.0.1:${port}`,
    proc,
    stop: () => proc.stop('SIGTERM', graceMs),
  }
}

/** The response header in which the nginx of `startNginx` names the node that answered. */
export const UPSTREAM_HEADER = 'x-parley-upstream'

/**
 * nginx from Debian in front of `upstreams` (`host:port`), configured as the README's multi-node section
 * says: plain round-robin, no stickiness, HTTP/1.1 upgrade headers for the websockets. It also names the
 * node that answered each request (websocket handshakes included) in `X-Parley-Upstream`.
 */
export async function startNginx(upstreams: string[]): Promise<Service> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-nginx-'))
  const port = await freePort()
  const conf = join(dir, 'nginx.conf')
  writeFileSync(
    conf,
    `# generated by e2e/cluster.ts
user root;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream parley {
${upstreams.map((u) => `    server ${u};`).join('\n')}
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://parley;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      # $http_host keeps the port (the README's nginx listens on 443, where $host is enough): the demo page
      # names its server after the Host header.
      proxy_set_header Host $http_host;
      proxy_read_timeout 120s;
      add_header X-Parley-Upstream $upstream_addr always;
    }
  }
}
`,
  )
  const proc = startProc('nginx', 'nginx', ['-p', dir, '-e', 'stderr', '-c', conf, '-g', 'daemon off;'])
  const stop = async () => {
    await proc.stop('SIGTERM', 5_000)
    rmSync(dir, { recursive: true, force: true })
  }
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 20_000
  for (;;) {
    if (proc.exited) {
      await stop()
      throw new Error(`nginx exited:\n${proc.output()}`)
    }
    if (
      await fetch(`${url}/quickstart`).then(
        () => true,
        () => false,
      )
    )
      break
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`nginx did not answer within 20 s:\n${proc.output()}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return { url, proc, stop }
}

/** Stops services in reverse order of start, each even when another fails; rethrows the first failure. */
export async function stopAll(services: ({ stop(): Promise<void> } | undefined)[]): Promise<void> {
  let first: unknown
  for (const s of [...services].reverse()) {
    try {
      await s?.stop()
    } catch (err) {
      first ??= err
    }
  }
  if (first) throw first
}
