import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from '@parley/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { parseServeConfig, SERVE_OPTIONS } from './config.js'

// The `parley` command as an operator meets it (issue 16): the built launcher, spawned as a process.
const bin = fileURLToPath(new URL('../bin/parley.js', import.meta.url))
const version = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version

const cleanups: (() => void | Promise<void>)[] = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-cli-errors-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, PARLEY_LOG_LEVEL: '', PARLEY_DB: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

/** One line on stderr, no usage dump and no stack trace. */
function expectOneLine(r: Run, pattern: RegExp): void {
  const lines = r.stderr.trim().split('\n')
  expect(lines[0], r.stderr).toMatch(pattern)
  expect(r.stderr, 'no stack trace').not.toMatch(/^\s+at /m)
  expect(r.stderr, 'no usage dump').not.toMatch(/Usage:/)
  expect(lines.length, r.stderr).toBeLessThanOrEqual(2)
}

describe('parley --version and --help', () => {
  it('--version and -v print the version and exit 0', async () => {
    for (const flag of ['--version', '-v']) {
      const r = await run([flag])
      expect(r.code).toBe(0)
      expect(r.stdout.trim()).toBe(version)
    }
  })

  it('serve --help lists every serve flag with its environment variable and default', async () => {
    const r = await run(['serve', '--help'])
    expect(r.code).toBe(0)
    for (const [name, option] of Object.entries(SERVE_OPTIONS)) {
      expect(r.stdout, name).toContain(`--${name}`)
      expect(r.stdout, name).toContain(`env ${option.env}, default: ${option.default}`)
    }
  })

  it('a command --help shows that command only; parley --help shows every command and the exit codes', async () => {
    const one = await run(['user', 'create', '--help'])
    expect(one.code).toBe(0)
    expect(one.stdout).toContain('parley user create --client-id ID --username USER@DOMAIN')
    expect(one.stdout).not.toContain('user delete')
    const all = await run(['--help'])
    expect(all.code).toBe(0)
    expect(all.stdout).toMatch(/Exit codes: 0 done, 1 operational error.*, 2 wrong command line/)
    expect(all.stdout).toContain('key create')
  })
})

describe('parley errors: one line, a documented exit code', () => {
  it('a wrong option is one line with a hint, exit 2', async () => {
    const r = await run(['serve', '--prot', '8080'])
    expect(r.code).toBe(2)
    expectOneLine(r, /^parley: Unknown option '--prot'.*\(see parley serve --help\)$/)
    const admin = await run(['user', 'create', '--client-id', 'x'])
    expect(admin.code).toBe(2)
    expectOneLine(admin, /^parley: user create needs --username \(see parley user create --help\)$/)
    const unknown = await run(['frob'])
    expect(unknown.code).toBe(2)
    expectOneLine(unknown, /^parley: unknown command "frob" \(see parley --help\)$/)
  })

  it('a port in use is one line, exit 1', async () => {
    const blocker: Server = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise<void>((resolve) => blocker.close(() => resolve())))
    const port = (blocker.address() as { port: number }).port
    const r = await run(['serve', '--port', String(port), '--db', 'sqlite::memory:'])
    expect(r.code).toBe(1)
    expectOneLine(r, new RegExp(`^parley: cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use`))
  })

  it('a SIP port in use and a bad --sip-trunk are one line each', async () => {
    const blocker: Server = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise<void>((resolve) => blocker.close(() => resolve())))
    const port = (blocker.address() as { port: number }).port
    const base = ['serve', '--port', '0', '--db', 'sqlite::memory:', '--sip-trunk', 'sip:127.0.0.2']
    const inUse = await run([...base, '--sip-listen', `127.0.0.1:${port}`])
    expect(inUse.code).toBe(1)
    expectOneLine(inUse, new RegExp(`^parley: --sip-listen 127\\.0\\.0\\.1:${port}: the address is in use`))
    const bad = await run(['serve', '--sip-trunk', 'sips:x'])
    expect(bad.code).toBe(2)
    expectOneLine(bad, /^parley: --sip-trunk must be sip:HOST/)
  })

  it('a missing SQLite directory is an error that creates nothing, unless --create', async () => {
    const dir = join(tempDir(), 'typo')
    const db = `sqlite:${join(dir, 'parley.db')}`
    const serve = await run(['serve', '--port', '0', '--db', db])
    expect(serve.code).toBe(1)
    expectOneLine(serve, /^parley: --db: the directory .*typo does not exist; create it, or pass --create/)
    const admin = await run(['account', 'list', '--db', db])
    expect(admin.code).not.toBe(0)
    expect(existsSync(dir)).toBe(false)
    const created = await run(['user', 'list', '--db', db, '--create'])
    expect(created.code, created.stderr).toBe(0)
    expect(existsSync(join(dir, 'parley.db'))).toBe(true)
  })

  it('a bad --db URL and an unreachable PostgreSQL are one line each, exit 1', async () => {
    const bad = await run(['serve', '--port', '0', '--db', 'mysql://x'])
    expect(bad.code).toBe(1)
    expectOneLine(bad, /^parley: --db: unsupported database URL \(scheme "mysql:"\)/)
    const unreachable = await run([
      'serve',
      '--port',
      '0',
      '--db',
      'postgres://parley:hunter2@127.0.0.1:1/parley',
    ])
    expect(unreachable.code).toBe(1)
    expectOneLine(unreachable, /^parley: connection refused by 127\.0\.0\.1:1/)
    expect(unreachable.stderr).not.toContain('hunter2')
  })

  it('a --config file with an unknown key or a wrong type names the key and the file, exit 2', async () => {
    const dir = tempDir()
    const file = join(dir, 'parley.yaml')
    writeFileSync(file, 'port: 0\nprot: 8080\n')
    const unknown = await run(['serve', '--config', file])
    expect(unknown.code).toBe(2)
    expectOneLine(unknown, new RegExp(`^parley: --config ${file}: unknown key "prot"`))
    writeFileSync(file, 'coturn: "yes"\n')
    const wrong = await run(['serve'], { PARLEY_CONFIG: file })
    expect(wrong.code).toBe(2)
    expectOneLine(wrong, new RegExp(`^parley: --config ${file}: "coturn" must be true or false, got "yes"`))
    // A value of the right type that is invalid is reported where it was written: the file, or the variable.
    writeFileSync(file, 'port: 99999\n')
    const invalid = await run(['serve', '--config', file])
    expect(invalid.code).toBe(2)
    expectOneLine(invalid, new RegExp(`^parley: --config ${file}: key "port": --port must be`))
    const fromEnv = await run(['serve'], { PARLEY_PORT: 'x' })
    expect(fromEnv.code).toBe(2)
    expectOneLine(fromEnv, /^parley: PARLEY_PORT: --port must be/)
  })
})

describe('parley serve --config FILE', () => {
  it('takes YAML and JSON with the flag names as keys; flags > env > file > defaults', () => {
    const dir = tempDir()
    const yaml = join(dir, 'parley.yaml')
    writeFileSync(
      yaml,
      [
        'port: 9001',
        'host: 127.0.0.2',
        'turn-url:',
        '  - stun:127.0.0.1:3478',
        'log-level: warn',
        'demo: true',
      ].join('\n'),
    )
    const fromFile = parseServeConfig(['--config', yaml], {})
    expect(fromFile).toMatchObject({ port: 9001, host: '127.0.0.2', logLevel: 'warn', demo: true })
    expect(fromFile.turnUrls).toEqual(['stun:127.0.0.1:3478'])
    const envWins = parseServeConfig(['--config', yaml], { PARLEY_PORT: '9002' })
    expect(envWins.port).toBe(9002)
    const flagWins = parseServeConfig(['--config', yaml, '--port', '9003'], { PARLEY_PORT: '9002' })
    expect(flagWins.port).toBe(9003)
    expect(parseServeConfig([], {}).port).toBe(8080)

    const json = join(dir, 'parley.json')
    writeFileSync(json, JSON.stringify({ port: '9004', 'tls-self-signed': true }))
    expect(parseServeConfig([], { PARLEY_CONFIG: json })).toMatchObject({ port: 9004, tls: 'self-signed' })
  })
})

describe('parley serve output', () => {
  it('keeps stdout to JSON log lines; the URL and demo credentials come on stderr in a block of their own', async () => {
    const dir = tempDir()
    const child = spawn(
      process.execPath,
      [bin, 'serve', '--demo', '--port', '0', '--db', `sqlite:${join(dir, 'p.db')}`],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PARLEY_LOG_LEVEL: '' } },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
    cleanups.push(() => void child.kill('SIGKILL'))
    await waitFor(() => /alice@parley\.local {2}password: \S+/.test(stderr), 20_000, 'the demo credentials')
    await waitFor(() => stdout.includes('parley is listening'), 5_000, 'the listening log line')
    expect(stderr).toMatch(/Parley is running at http:\/\/127\.0\.0\.1:\d+/)
    expect(stderr).toMatch(/Client ID: parley-[0-9a-f]+/)
    for (const line of stdout.split('\n').filter(Boolean)) expect(() => JSON.parse(line), line).not.toThrow()
    expect(stdout).not.toContain('password:')
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  })
})
