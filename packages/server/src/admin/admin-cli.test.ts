import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { runCli } from '../cli.js'

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const fn of cleanups.splice(0)) fn()
  vi.restoreAllMocks()
})

function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-admin-cli-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return `sqlite:${join(dir, 'cli.db')}`
}

/** Runs the CLI in this process; stdin is the given text (not a terminal); stderr is captured. */
async function cli(args: string[], stdin = ''): Promise<{ code: number; lines: string[]; stderr: string }> {
  let text = ''
  let stderr = ''
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        add(String(chunk))
        cb()
      },
    })
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk)
    return true
  })
  const code = await runCli(
    args,
    sink((s) => (text += s)),
    {
      stdin: Readable.from([stdin]),
      prompt: sink(() => undefined),
    },
  )
  vi.restoreAllMocks()
  return { code, lines: text.split('\n').filter(Boolean), stderr }
}

describe('parley admin create | list | delete', () => {
  it('creates an account administrator (--password-stdin) and an operator, lists and deletes them, never printing secrets', async () => {
    const db = tempDb()
    const account = await cli(['account', 'create', '--name', 'Acme', '--db', db])
    const { clientId } = JSON.parse(account.lines[0]!) as { clientId: string }

    const admin = await cli(
      ['admin', 'create', '--client-id', clientId, '--username', 'ops-acme', '--password-stdin', '--db', db],
      'acme-console-pw\n',
    )
    expect(admin.code, admin.stderr).toBe(0)
    expect(JSON.parse(admin.lines[0]!)).toMatchObject({ username: 'ops-acme', role: 'admin', clientId })
    expect(admin.lines[0]).not.toMatch(/acme-console-pw|scrypt|passwordHash/)

    const operator = await cli([
      'admin',
      'create',
      '--operator',
      '--username',
      'root-ops',
      '--password',
      'operator-pw-1',
      '--db',
      db,
    ])
    expect(operator.code, operator.stderr).toBe(0)
    expect(JSON.parse(operator.lines[0]!)).toMatchObject({
      username: 'root-ops',
      role: 'operator',
      clientId: null,
    })

    const all = await cli(['admin', 'list', '--db', db])
    expect(all.lines.map((l) => (JSON.parse(l) as { username: string }).username)).toEqual([
      'ops-acme',
      'root-ops',
    ])
    const mine = await cli(['admin', 'list', '--client-id', clientId, '--db', db])
    expect(mine.lines).toHaveLength(1)

    const deleted = await cli(['admin', 'delete', '--username', 'ops-acme', '--db', db])
    expect(deleted.code).toBe(0)
    expect(JSON.parse(deleted.lines[0]!)).toMatchObject({ deleted: { username: 'ops-acme' } })
    expect((await cli(['admin', 'list', '--db', db])).lines).toHaveLength(1)
  })

  it('refuses bad command lines (exit 2) and bad input (exit 1) with one line', async () => {
    const db = tempDb()
    const account = await cli(['account', 'create', '--name', 'Acme', '--db', db])
    const { clientId } = JSON.parse(account.lines[0]!) as { clientId: string }
    const cases: [string[], number, RegExp, string?][] = [
      [
        ['admin', 'create', '--username', 'x', '--password', 'long-enough'],
        2,
        /admin create needs --client-id/,
      ],
      [
        [
          'admin',
          'create',
          '--operator',
          '--client-id',
          clientId,
          '--username',
          'x',
          '--password',
          'long-enough',
        ],
        2,
        /--client-id ID or --operator, not both/,
      ],
      [
        ['admin', 'create', '--client-id', 'nope', '--username', 'x', '--password', 'long-enough'],
        1,
        /no account with client id "nope"/,
      ],
      [
        ['admin', 'create', '--client-id', clientId, '--username', 'has space', '--password', 'long-enough'],
        1,
        /admin username must be/,
      ],
      [
        ['admin', 'create', '--client-id', clientId, '--username', 'x', '--password', 'short'],
        1,
        /at least 8 characters/,
      ],
      [
        ['admin', 'create', '--client-id', clientId, '--username', 'x', '--password-stdin'],
        1,
        /nothing on standard input/,
        '',
      ],
      [['admin', 'delete', '--username', 'ghost'], 1, /no admin "ghost"/],
    ]
    for (const [args, code, message, stdin] of cases) {
      const r = await cli([...args, '--db', db], stdin)
      expect(r.code, args.join(' ')).toBe(code)
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1)
      expect(r.stderr, args.join(' ')).toMatch(message)
    }
    await cli([
      'admin',
      'create',
      '--operator',
      '--username',
      'taken',
      '--password',
      'long-enough',
      '--db',
      db,
    ])
    const dup = await cli([
      'admin',
      'create',
      '--client-id',
      clientId,
      '--username',
      'taken',
      '--password',
      'long-enough',
      '--db',
      db,
    ])
    expect(dup.code).toBe(1)
    expect(dup.stderr).toMatch(/admin username "taken" is already taken/)
  })
})
