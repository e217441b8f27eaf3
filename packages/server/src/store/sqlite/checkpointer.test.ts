import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { waitFor } from '@parley/test-kit'
import { afterEach, describe, expect, it } from 'vitest'
import { Checkpointer } from './checkpointer.js'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A WAL database whose writer never checkpoints by itself, with ~4 MB committed into its WAL. */
function walDatabase(): { db: Database.Database; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'parley-ckpt-'))
  dirs.push(dir)
  const file = join(dir, 'db.sqlite')
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('wal_autocheckpoint = 0')
  db.exec('CREATE TABLE t (v TEXT)')
  const insert = db.prepare('INSERT INTO t VALUES (?)')
  db.transaction(() => {
    for (let i = 0; i < 1000; i++) insert.run('x'.repeat(4000))
  })()
  return { db, file }
}

describe('Checkpointer (WAL checkpoints off the event loop, issue 13)', () => {
  it("copies the WAL's committed pages into the database file from its worker thread", async () => {
    const { db, file } = walDatabase()
    const before = statSync(file).size
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(3_000_000)
    const errors: string[] = []
    const checkpointer = new Checkpointer(file, (m) => errors.push(m), 20)
    try {
      await waitFor(
        () => (statSync(file).size > before + 3_000_000 ? true : undefined),
        5_000,
        'the database file to receive the checkpointed pages',
      )
      expect(errors).toEqual([])
      expect((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n).toBe(1000)
    } finally {
      await checkpointer.stop()
      db.close()
    }
  })

  it('without it the pages stay in the WAL (the writer does not checkpoint)', async () => {
    const { db, file } = walDatabase()
    const before = statSync(file).size
    await new Promise((r) => setTimeout(r, 300))
    expect(statSync(file).size).toBe(before)
    db.close()
  })

  it('reports a database it cannot open', async () => {
    const errors: string[] = []
    const checkpointer = new Checkpointer(join(tmpdir(), 'parley-no-such-dir', 'db.sqlite'), (m) =>
      errors.push(m),
    )
    try {
      await waitFor(() => errors[0], 5_000, 'the failure report')
    } finally {
      await checkpointer.stop()
    }
  })
})
