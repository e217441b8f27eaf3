import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import pg from 'pg'

/** PostgreSQL of the test machines (docs/testing.md: trust auth, database `test`). */
export const TEST_POSTGRES_URL = process.env.PARLEY_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test'
/** Redis of the test machines. */
export const TEST_REDIS_URL = process.env.PARLEY_TEST_REDIS ?? 'redis://127.0.0.1:6379'

const HOW_TO_START =
  'start it with the commands in docs/testing.md ("Databases and bus"), or run .ci/run, which does'

/**
 * Whether a backing service answers. Under CI (`CI` set) an unreachable service is an error, not a reason
 * to skip: the adapters' contract suites must run there (issue #6). Locally, tests may skip without it.
 */
async function reachable(name: string, url: string, probe: () => Promise<void>): Promise<boolean> {
  try {
    await probe()
    return true
  } catch (error) {
    if (process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0') {
      throw new Error(
        `${name} at ${url} is unreachable (${(error as Error).message}); CI=true, so the tests that need it ` +
          `fail instead of skipping — ${HOW_TO_START}`,
      )
    }
    return false
  }
}

/** True when PostgreSQL answers at TEST_POSTGRES_URL; throws under CI when it does not. */
export async function postgresAvailable(): Promise<boolean> {
  return reachable('PostgreSQL', TEST_POSTGRES_URL, async () => {
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3_000 })
    try {
      await client.connect()
      await client.query('SELECT 1')
    } finally {
      await client.end().catch(() => undefined)
    }
  })
}

/** True when Redis answers at TEST_REDIS_URL; throws under CI when it does not. */
export async function redisAvailable(): Promise<boolean> {
  return reachable('Redis', TEST_REDIS_URL, async () => {
    const client = new Redis(TEST_REDIS_URL, {
      lazyConnect: true,
      connectTimeout: 3_000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    })
    client.on('error', () => undefined)
    try {
      await client.connect()
      await client.ping()
    } finally {
      client.disconnect()
    }
  })
}

/** A PostgreSQL schema of its own for one test file, so that runs sharing the database never meet. */
export interface TestSchema {
  name: string
  /** TEST_POSTGRES_URL with `?schema=name`: the store creates the schema on its first `migrate()`. */
  url: string
  /** Drops the schema with everything in it. */
  drop(): Promise<void>
}

/** A fresh, unique schema name (`parley_test_<label>_<random>`) and the store URL that uses it. */
export function testSchema(label: string): TestSchema {
  const name = `parley_test_${label.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_${randomBytes(6).toString('hex')}`
  const url = new URL(TEST_POSTGRES_URL)
  url.searchParams.set('schema', name)
  return {
    name,
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: TEST_POSTGRES_URL })
      await client.connect()
      try {
        await client.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`)
      } finally {
        await client.end()
      }
    },
  }
}
