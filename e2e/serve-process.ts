import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { runCli } from '@parley/server'
import { waitFor } from '@parley/test-kit'

/**
 * `parley serve` as a child process on a SQLite file of its own, for the tests that kill and restart it
 * (server-restart, pstn-restart): the admin commands on the same file, a free port, the process and its output.
 */
const BIN = fileURLToPath(new URL('../packages/server/bin/parley.js', import.meta.url))

export interface ServeDb {
  /** `sqlite:…` of the file. */
  db: string
  /** Runs `parley ARGS --db DB` in this process; resolves with its stdout, throws when it exits non-zero. */
  cli(args: string[]): Promise<string>
  remove(): void
}

export function serveDb(prefix: string): ServeDb {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const db = `sqlite:${join(dir, 'parley.db')}`
  return {
    db,
    async cli(args) {
      let out = ''
      const sink = new Writable({
        write(c, _e, cb) {
          out += String(c)
          cb()
        },
      })
      const code = await runCli([...args, '--db', db], sink)
      if (code !== 0) throw new Error(`parley ${args.join(' ')} exited ${code}`)
      return out
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

export interface ServeProcess {
  child: ChildProcess
  /** Everything it wrote to stdout and stderr so far. */
  log(): string
}

/** Starts `parley serve --port PORT --db DB --log-level warn ARGS…` and resolves once it listens. */
export async function startServe(port: number, db: string, args: string[] = []): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--port', String(port), '--db', db, '--log-level', 'warn', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let out = ''
  child.stdout!.on('data', (d) => (out += String(d)))
  child.stderr!.on('data', (d) => (out += String(d)))
  await waitFor(
    () => out.includes('Parley is running at') || child.exitCode !== null,
    15_000,
    'the server to start',
  )
  if (child.exitCode !== null) throw new Error(`parley serve exited: ${out}`)
  return { child, log: () => out }
}
