import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'

// `parley number …` as an operator runs it (issue 11): the built launcher, spawned, on a scratch SQLite file.
const bin = fileURLToPath(new URL('../../bin/parley.js', import.meta.url))

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const fn of cleanups.splice(0)) fn()
})

function scratchDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-number-cli-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return `sqlite:${join(dir, 'numbers.db')}`
}

interface Run {
  code: number | null
  stdout: string
  stderr: string
  /** stdout as JSON lines. */
  objects: Record<string, unknown>[]
}

function parley(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, PARLEY_LOG_LEVEL: '', PARLEY_DB: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('exit', (code) => {
      const lines = stdout.split('\n').filter(Boolean)
      const objects =
        code === 0 && !args.includes('--help')
          ? lines.map((l) => JSON.parse(l) as Record<string, unknown>)
          : []
      resolve({ code, stdout, stderr, objects })
    })
  })
}

/** Exit `code` with one line on stderr matching `pattern`: no stack trace, no usage dump. */
function expectError(r: Run, code: number, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(code)
  const lines = r.stderr.trim().split('\n')
  expect(lines[0]).toMatch(pattern)
  expect(lines.length, r.stderr).toBe(1)
  expect(r.stderr).not.toMatch(/^\s+at /m)
  expect(r.stdout).toBe('')
}

/** An account with alice and bob, in a fresh database made with --create. */
async function seed(): Promise<{ db: string; clientId: string }> {
  const db = scratchDb()
  const account = await parley(['account', 'create', '--name', 'Acme', '--db', db, '--create'])
  expect(account.code, account.stderr).toBe(0)
  const clientId = account.objects[0]!.clientId as string
  for (const login of ['alice@acme.test', 'bob@acme.test']) {
    const user = await parley([
      'user',
      'create',
      '--client-id',
      clientId,
      '--username',
      login,
      '--password',
      'password1',
      '--db',
      db,
    ])
    expect(user.code, user.stderr).toBe(0)
  }
  return { db, clientId }
}

describe('parley number …', { timeout: 60_000 }, () => {
  it('add, assign, list and delete print JSON; the first number of a user is their caller ID', async () => {
    const { db, clientId } = await seed()
    const added = await parley([
      'number',
      'add',
      '--client-id',
      clientId,
      '--number',
      '+15550100',
      '--user',
      'alice@acme.test',
      '--db',
      db,
    ])
    expect(added.code, added.stderr).toBe(0)
    expect(added.objects).toStrictEqual([
      expect.objectContaining({ number: '+15550100', clientId, user: 'alice@acme.test', callerId: true }),
    ])
    const spare = await parley([
      'number',
      'add',
      '--client-id',
      clientId,
      '--number',
      '+15550101',
      '--db',
      db,
    ])
    expect(spare.objects[0]).toMatchObject({
      number: '+15550101',
      user: null,
      assignedAt: null,
      callerId: false,
    })

    const second = await parley([
      'number',
      'assign',
      '--number',
      '+15550101',
      '--user',
      'alice@acme.test',
      '--db',
      db,
    ])
    expect(second.objects[0]).toMatchObject({ number: '+15550101', user: 'alice@acme.test', callerId: false })
    const moved = await parley([
      'number',
      'assign',
      '--number',
      '+15550100',
      '--user',
      'bob@acme.test',
      '--db',
      db,
    ])
    expect(moved.objects[0]).toMatchObject({ number: '+15550100', user: 'bob@acme.test', callerId: true })

    const list = await parley(['number', 'list', '--client-id', clientId], { PARLEY_DB: db })
    expect(list.code, list.stderr).toBe(0)
    expect(list.objects.map((n) => [n.number, n.user, n.callerId])).toStrictEqual([
      ['+15550100', 'bob@acme.test', true],
      // alice's remaining number became her caller ID when +15550100 moved to bob.
      ['+15550101', 'alice@acme.test', true],
    ])

    const deleted = await parley(['number', 'delete', '--number', '+15550100', '--db', db])
    expect(deleted.objects[0]).toMatchObject({ number: '+15550100', deleted: true })
    expect((await parley(['number', 'list', '--db', db])).objects.map((n) => n.number)).toStrictEqual([
      '+15550101',
    ])
  })

  it('a deleted user leaves the number unassigned in the account', async () => {
    const { db, clientId } = await seed()
    await parley([
      'number',
      'add',
      '--client-id',
      clientId,
      '--number',
      '+15550100',
      '--user',
      'alice@acme.test',
      '--db',
      db,
    ])
    const gone = await parley([
      'user',
      'delete',
      '--client-id',
      clientId,
      '--username',
      'alice@acme.test',
      '--db',
      db,
    ])
    expect(gone.code, gone.stderr).toBe(0)
    const list = await parley(['number', 'list', '--db', db])
    expect(list.objects).toStrictEqual([
      expect.objectContaining({ number: '+15550100', clientId, user: null }),
    ])
  })

  it('bad numbers, unknown names, taken numbers and other accounts get one line and exit 1', async () => {
    const { db, clientId } = await seed()
    expectError(
      await parley(['number', 'add', '--client-id', clientId, '--number', '+0123', '--db', db]),
      1,
      /^parley: --number must be an E\.164 number: \+ and 2 to 15 digits, the first not 0 \(got "\+0123"\)$/,
    )
    expectError(
      await parley(['number', 'add', '--client-id', 'nope', '--number', '+15550100', '--db', db]),
      1,
      /^parley: no account with client id "nope"$/,
    )
    await parley(['number', 'add', '--client-id', clientId, '--number', '+15550100', '--db', db])
    expectError(
      await parley(['number', 'add', '--client-id', clientId, '--number', '+15550100', '--db', db]),
      1,
      /^parley: number \+15550100 already exists on this server$/,
    )
    const other = (await parley(['account', 'create', '--name', 'Other', '--db', db])).objects[0]!
      .clientId as string
    await parley([
      'user',
      'create',
      '--client-id',
      other,
      '--username',
      'carol@other.test',
      '--password',
      'password1',
      '--db',
      db,
    ])
    expectError(
      await parley(['number', 'add', '--client-id', other, '--number', '+15550100', '--db', db]),
      1,
      /already exists on this server/,
    )
    expectError(
      await parley(['number', 'assign', '--number', '+15550100', '--user', 'carol@other.test', '--db', db]),
      1,
      /^parley: no user carol@other\.test in the account of client id "parley-[0-9a-f]+"$/,
    )
    expectError(
      await parley(['number', 'delete', '--number', '+15550199', '--db', db]),
      1,
      /^parley: no number \+15550199 on this server$/,
    )
  })

  it('a wrong command line exits 2 with a hint; --help shows the command; a missing db directory needs --create', async () => {
    const { db } = await seed()
    expectError(
      await parley(['number', 'add', '--number', '+15550100', '--db', db]),
      2,
      /^parley: number add needs --client-id \(see parley number add --help\)$/,
    )
    expectError(await parley(['number', 'assign', '--number', '+15550100', '--db', db]), 2, /needs --user/)
    expectError(
      await parley(['number', 'list', '--number', '+1555', '--db', db]),
      2,
      /number list does not take --number/,
    )
    expectError(await parley(['number', 'frobnicate', '--db', db]), 2, /unknown command "number frobnicate"/)
    expectError(await parley(['number', 'list', '--bogus']), 2, /Unknown option '--bogus'/)

    const help = await parley(['number', 'add', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('parley number add --client-id ID --number +E164 [--user USER@DOMAIN]')
    expect(help.stdout).not.toContain('number delete')
    const all = await parley(['number', '--help'])
    for (const sub of ['add', 'assign', 'list', 'delete'])
      expect(all.stdout).toContain(`parley number ${sub}`)
    expect((await parley(['--help'])).stdout).toContain('number assign --number +E164 --user USER@DOMAIN')

    const missing = join(tmpdir(), `parley-no-such-dir-${process.pid}-${Date.now()}`, 'x.db')
    expectError(await parley(['number', 'list', '--db', `sqlite:${missing}`]), 1, /--create/)
    const created = await parley(['number', 'list', '--db', `sqlite:${missing}`, '--create'])
    cleanups.push(() => rmSync(join(missing, '..'), { recursive: true, force: true }))
    expect(created.code, created.stderr).toBe(0)
    expect(created.stdout).toBe('')
  })
})
