import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import {
  ANONYMOUS_USAGE,
  AnonymousUsageError,
  isAnonymousCommand,
  runAnonymousCommand,
} from './admin/anonymous-commands.js'
import { startCluster } from './cluster/primary.js'
import { ConfigError, makeConfig, parseServeConfig, SERVE_OPTIONS } from './config.js'
import { createContext } from './deps.js'
import { startServer } from './main.js'
import { AdminError, createAccount, createUser, deleteUser, listUsers } from './services/accounts.js'
import type { ServiceContext } from './services/context.js'

const USAGE = `Usage: parley <command> [options]

Commands:
  serve                         run the platform (REST API, websockets, demo at /)
  account create --name NAME    create an account; prints {"clientId": …}
  user create --client-id ID --username USER@DOMAIN --password PW
  user list [--client-id ID]
  user delete --client-id ID --username USER@DOMAIN
  calls list [--limit N] [--client-id ID]   call records as JSON lines
${ANONYMOUS_USAGE}

Every admin command takes --db URL (env PARLEY_DB; default sqlite:./data/parley.db).

serve options (each also as an environment variable):
${Object.entries(SERVE_OPTIONS)
  .map(([name, o]) => `  --${name.padEnd(18)} ${o.env.padEnd(24)} ${o.help}`)
  .join('\n')}
`

/** Where the built SDK and the demo page live, relative to this file (dist/cli.js or src/cli.ts). */
function assetDir(relative: string): string | null {
  const dir = fileURLToPath(new URL(relative, import.meta.url))
  return existsSync(dir) ? dir : null
}

class UsageError extends Error {}

/** Runs the `parley` command; returns the exit code. */
export async function runCli(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const print = (line: string) => out.write(line + '\n')
  const [command, sub, ...rest] = argv
  try {
    if (!command || command === '--help' || command === 'help' || command === '-h') {
      print(USAGE)
      return command ? 0 : 2
    }
    if (command === 'serve') return await serve(argv.slice(1))
    if (isAnonymousCommand(command)) {
      try {
        return await runAnonymousCommand(argv, print)
      } catch (err) {
        throw err instanceof AnonymousUsageError ? new UsageError(err.message) : err
      }
    }
    const key = `${command} ${sub ?? ''}`
    const options = {
      db: { type: 'string' },
      name: { type: 'string' },
      'client-id': { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      limit: { type: 'string' },
    } as const
    let values: { [k in keyof typeof options]?: string }
    try {
      values = parseArgs({ args: rest, options, strict: true, allowPositionals: false }).values
    } catch (err) {
      throw new UsageError((err as Error).message)
    }
    const need = (name: keyof typeof options): string => {
      const v = values[name]
      if (!v) throw new UsageError(`${key.trim()} needs --${name}`)
      return v
    }
    const db = values.db ?? process.env.PARLEY_DB ?? 'sqlite:./data/parley.db'
    const run = async <T>(fn: (ctx: ServiceContext) => Promise<T>): Promise<T> => {
      const ctx = await createContext(makeConfig({ db, logLevel: 'silent' }))
      try {
        return await fn(ctx)
      } finally {
        await ctx.store.close()
      }
    }
    switch (key) {
      case 'account create': {
        const name = need('name')
        const account = await run((ctx) => createAccount(ctx, name))
        print(
          JSON.stringify({
            clientId: account.clientId,
            id: account.id,
            name: account.name,
            createdAt: new Date(account.createdAt).toISOString(),
          }),
        )
        return 0
      }
      case 'user create': {
        const input = { clientId: need('client-id'), login: need('username'), password: need('password') }
        print(JSON.stringify(await run((ctx) => createUser(ctx, input))))
        return 0
      }
      case 'user list': {
        const users = await run((ctx) => listUsers(ctx, values['client-id']))
        for (const u of users) print(JSON.stringify(u))
        return 0
      }
      case 'user delete': {
        const clientId = need('client-id')
        const login = need('username')
        print(JSON.stringify({ deleted: await run((ctx) => deleteUser(ctx, clientId, login)) }))
        return 0
      }
      case 'calls list': {
        const limit = values.limit ? Number(values.limit) : 100
        if (!Number.isInteger(limit) || limit <= 0) throw new UsageError('--limit must be a positive integer')
        const records = await run(async (ctx) => {
          const accountId = values['client-id']
            ? (await ctx.store.getAccountByClientId(values['client-id']))?.id
            : undefined
          if (values['client-id'] && !accountId)
            throw new AdminError(`no account with client id "${values['client-id']}"`)
          return ctx.store.listCallRecords(limit, accountId)
        })
        for (const r of records) {
          const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString())
          print(
            JSON.stringify({
              ...r,
              createdAt: iso(r.createdAt),
              answeredAt: iso(r.answeredAt),
              endedAt: iso(r.endedAt),
            }),
          )
        }
        return 0
      }
      default:
        throw new UsageError(`unknown command "${key.trim()}"`)
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`parley: ${err.message}\n\n${USAGE}`)
      return 2
    }
    if (err instanceof AdminError || err instanceof ConfigError) {
      process.stderr.write(`parley: ${err.message}\n`)
      return 1
    }
    throw err
  }
}

async function serve(argv: string[]): Promise<number> {
  const config = parseServeConfig(argv, process.env, {
    sdkDir: assetDir('../../sdk/dist/'),
    demoDir: assetDir('../../../demo/'),
  })
  // With --workers N > 1 this process becomes the cluster primary; the servers run in the workers.
  const server = config.workers > 1 ? await startCluster(config) : await startServer(config)
  const log = 'ctx' in server ? server.ctx.log : server.log
  log.info(
    {
      url: server.url,
      db: config.db.replace(/\/\/[^@]*@/, '//***@'),
      bus: config.redis
        ? config.redis.replace(/\/\/[^@]*@/, '//***@')
        : config.workers > 1
          ? 'relayed by the cluster primary'
          : 'in-process',
      workers: config.workers,
      ...(server.metricsUrl ? { metrics: server.metricsUrl } : {}),
    },
    'parley is listening',
  )
  process.stdout.write(`\nParley is running at ${server.url}\n`)
  if (server.demo) {
    process.stdout.write(`\nDemo account created (shown once):\n  Client ID: ${server.demo.clientId}\n`)
    for (const u of server.demo.users) process.stdout.write(`  ${u.login}  password: ${u.password}\n`)
    process.stdout.write(`Open ${server.url}/ in two browser tabs, log in as the two users and call.\n\n`)
  }
  // Ctrl-C reaches every process of the terminal's group, and `npm start` forwards it once more: a repeated
  // signal during the graceful shutdown must not kill the process (that is npm's exit 130), so the handlers
  // stay installed until the server has closed.
  let stopping = false
  let stopped: () => void = () => undefined
  const done = new Promise<void>((resolve) => (stopped = resolve))
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return void log.info({ signal }, 'already shutting down')
    stopping = true
    log.info({ signal }, 'shutting down')
    stopped()
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  await done
  await server.close()
  process.off('SIGTERM', onSignal)
  process.off('SIGINT', onSignal)
  return 0
}
