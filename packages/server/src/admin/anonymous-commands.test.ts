import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Writable } from 'node:stream'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { runCli } from '../cli.js'

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const fn of cleanups.splice(0)) fn()
  vi.restoreAllMocks()
})

function tempDb(): { url: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'parley-anon-cli-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return { url: `sqlite:${join(dir, 'cli.db')}`, file: join(dir, 'cli.db') }
}

async function cli(
  args: string[],
): Promise<{ code: number; lines: string[]; objects: Record<string, unknown>[] }> {
  let text = ''
  const out = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk)
      cb()
    },
  })
  const code = await runCli(args, out)
  const lines = text.split('\n').filter(Boolean)
  return {
    code,
    lines,
    objects: code === 0 ? lines.map((l) => JSON.parse(l) as Record<string, unknown>) : [],
  }
}

describe('parley key … and parley anonymous …', () => {
  it('key create prints the key and its secret once; list never shows it; delete removes the key', async () => {
    const db = tempDb()
    const { clientId } = (await cli(['account', 'create', '--name', 'Shop', '--db', db.url])).objects[0] as {
      clientId: string
    }
    const created = await cli([
      'key',
      'create',
      '--client-id',
      clientId,
      '--name',
      'website',
      '--ttl',
      '3600',
      '--db',
      db.url,
    ])
    expect(created.code).toBe(0)
    const key = created.objects[0] as {
      key: string
      secret: string
      name: string
      clientId: string
      expiresAt: string
    }
    expect(key).toMatchObject({ name: 'website', clientId })
    expect(key.key).toMatch(/^pk-[0-9a-f]{24}$/)
    expect(key.secret.length).toBeGreaterThanOrEqual(43)
    expect(Date.parse(key.expiresAt) - Date.now()).toBeGreaterThan(3500_000)
    // Stored hashed: the key is in the database files, its secret is not.
    const stored = Buffer.concat(
      readdirSync(dirname(db.file)).map((f) => readFileSync(join(dirname(db.file), f))),
    )
    expect(stored.includes(Buffer.from(key.key))).toBe(true)
    expect(stored.includes(Buffer.from(key.secret))).toBe(false)

    const list = await cli(['key', 'list', '--client-id', clientId, '--db', db.url])
    expect(list.objects).toEqual([expect.objectContaining({ key: key.key, name: 'website' })])
    expect(list.lines.join('\n')).not.toContain(key.secret)

    const deleted = await cli(['key', 'delete', '--key', key.key, '--db', db.url])
    expect(deleted.code).toBe(0)
    expect((await cli(['key', 'list', '--db', db.url])).objects).toEqual([])
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    expect((await cli(['key', 'delete', '--key', key.key, '--db', db.url])).code).toBe(1)
    expect(String(stderr.mock.calls[0]?.[0])).toContain('no key')
  })

  it('anonymous allow, list and deny manage the allow-list (USER@DOMAIN or +E164)', async () => {
    const db = tempDb()
    const { clientId } = (await cli(['account', 'create', '--name', 'Shop', '--db', db.url])).objects[0] as {
      clientId: string
    }
    const allow = (d: string) =>
      cli(['anonymous', 'allow', '--client-id', clientId, '--destination', d, '--db', db.url])
    expect((await allow('Agent@Example.com')).objects[0]).toMatchObject({
      destination: 'agent@example.com',
      added: true,
    })
    expect((await allow('+15550100')).objects[0]).toMatchObject({ destination: '+15550100', added: true })
    expect((await allow('agent@example.com')).objects[0]).toMatchObject({ added: false })
    const list = await cli(['anonymous', 'list', '--client-id', clientId, '--db', db.url])
    expect(list.objects.map((o) => o.destination)).toEqual(['agent@example.com', '+15550100'])
    const deny = await cli([
      'anonymous',
      'deny',
      '--client-id',
      clientId,
      '--destination',
      '+15550100',
      '--db',
      db.url,
    ])
    expect(deny.objects[0]).toMatchObject({ removed: true })
    expect((await cli(['anonymous', 'list', '--db', db.url])).objects.map((o) => o.destination)).toEqual([
      'agent@example.com',
    ])
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    expect((await allow('not a destination')).code).toBe(1)
    expect((await cli(['anonymous', 'allow', '--client-id', clientId, '--db', db.url])).code).toBe(2)
    expect(
      (await cli(['key', 'create', '--client-id', clientId, '--ttl', 'soon', '--db', db.url])).code,
    ).toBe(2)
    expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toContain('--destination')
  })
})
