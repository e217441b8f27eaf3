import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { withAdminContext } from './admin/admin-context.js'
import {
  ANONYMOUS_USAGE,
  AnonymousUsageError,
  isAnonymousCommand,
  runAnonymousCommand,
} from './admin/anonymous-commands.js'
import { isNumberCommand, NUMBER_USAGE, NumberUsageError, runNumberCommand } from './admin/number-commands.js'
import { startCluster } from './cluster/primary.js'
import { ConfigError, parseServeConfig, SERVE_OPTIONS } from './config.js'
import { StoreUrlError } from './store/index.js'
import { startServer, StartupError } from './main.js'
import { CoturnError } from './coturn.js'
import { RtpengineSpawnError } from './media-gateway/rtpengine-supervisor.js'
import {
  PasswordInputError,
  PasswordUsageError,
  readPassword,
  type PasswordIo,
} from './admin/password-input.js'
import {
  AdminError,
  createAccount,
  createUser,
  deleteAccount,
  deleteUser,
  listAccounts,
  listUsers,
  setPassword,
} from './services/accounts.js'
import { createAdmin, deleteAdmin, listAdmins } from './services/admin.js'
import type { ServiceContext } from './services/context.js'

const PASSWORD_HELP = `Passwords: --password-stdin reads the first line of standard input (e.g. from a secrets
manager: \`pass show alice | parley user password … --password-stdin\`). With neither flag, in a terminal,
the password is asked twice without echo; otherwise the command is refused (exit 2). --password PW works too,
but the password then shows in shell history and to every user of the machine (ps).`

const USAGE = `Usage: parley <command> [options]

Commands:
  serve                         run the platform (REST API, websockets, demo at /)
  account create --name NAME    create an account; prints {"clientId": …}
  account list                  accounts as JSON lines
  account delete --client-id ID [--force]
                                delete the account with everything of it: users, channels, calls and call
                                records, project keys, allow-list; refused while it has calls in progress
                                unless --force (they vanish under their parties)
  user create --client-id ID --username USER@DOMAIN [--password-stdin | --password PW]
  user password --client-id ID --username USER@DOMAIN [--password-stdin | --password PW]
                                set a new password; the user's earlier tokens stop working (within 60 s)
  user list [--client-id ID]
  user delete --client-id ID --username USER@DOMAIN
  calls list [--limit N] [--client-id ID]   call records as JSON lines
  admin create --client-id ID --username NAME [--password-stdin | --password PW]
                                an administrator of the account for the operator console at /console
  admin create --operator --username NAME [--password-stdin | --password PW]
                                a server-wide operator: sees and acts on every account
  admin list [--client-id ID]   administrators (and operators) as JSON lines
  admin delete --username NAME  delete an administrator; their console sessions end at their next request
${ANONYMOUS_USAGE}
${NUMBER_USAGE}

Every admin command takes --db URL (env PARLEY_DB; default sqlite:./data/parley.db), and --create to create a
missing directory of a sqlite: file (otherwise a mistyped path is an error, not a new empty database).

${PASSWORD_HELP}

Run \`parley serve --help\` for the server's flags, \`parley <command> --help\` for one command.
Exit codes: 0 done, 1 operational error (one line on stderr), 2 wrong command line.
`

/** `parley serve --help`: every flag with its environment variable and default (the SERVE_OPTIONS table). */
export function serveHelp(): string {
  const rows = Object.entries(SERVE_OPTIONS).map(([name, o]) => {
    const flag = `--${name}${o.type === 'string' ? ' VALUE' : ''}${'multiple' in o ? ' (repeatable)' : ''}`
    return `  ${flag}\n      ${o.help}\n      env ${o.env}, default: ${o.default}`
  })
  return `Usage: parley serve [options]

Runs the platform: the REST API under /cpaas/…, channel websockets, the demo at /, the SDK at /sdk/,
health at /healthz and /readyz, the OpenAPI document at /openapi.json.
Precedence: flags > PARLEY_* environment > --config file > defaults.

Options:
${rows.join('\n')}
  -h, --help
      this text
`
}

/**
 * The lines of USAGE for one command (`parley user --help`, `parley user create --help`): each matching line with
 * the more deeply indented lines that continue it.
 */
function commandHelp(command: string, sub: string | undefined): string | undefined {
  const prefix = sub ? `  ${command} ${sub}` : `  ${command} `
  const lines: string[] = []
  let inside = false
  for (const line of USAGE.split('\n')) {
    if (line.startsWith(prefix)) {
      inside = true
      lines.push('  parley ' + line.trimStart())
    } else if (inside && line.startsWith('    ')) {
      lines.push(line)
    } else {
      inside = false
    }
  }
  if (lines.length === 0) return undefined
  const passwords = lines.some((l) => l.includes('--password')) ? `\n${PASSWORD_HELP}\n` : ''
  return `Usage:\n${lines.join('\n')}\n\nEvery admin command takes --db URL (env PARLEY_DB; default sqlite:./data/parley.db).\n${passwords}`
}

/** The version of the server package (`parley --version`). */
export function parleyVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}

/**
 * One line for an operator out of an error of the running system (a port in use, an unreachable database, an
 * unreadable file), or undefined when the error is not one of those.
 */
export function operationalMessage(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string }
  switch (e?.code) {
    case 'EADDRINUSE':
      return `cannot listen on ${e.address ?? ''}:${e.port ?? ''}: the address is in use (another parley, or choose --port)`
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${e.address ?? ''}: no such local address (check --host)`
    case 'EACCES':
    case 'EPERM':
      return e.syscall === 'listen' || e.syscall === 'bind'
        ? `cannot listen on port ${e.port ?? ''}: permission denied (ports below 1024 need privileges)`
        : `permission denied: ${e.path ?? e.message}`
    case 'ENOENT':
      return `no such file or directory: ${e.path ?? e.message}`
    case 'ECONNREFUSED':
      return `connection refused by ${e.address ?? ''}:${e.port ?? ''} (is the database or Redis running? check --db and --redis)`
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve host ${e.hostname ?? ''} (check --db and --redis)`
    case 'ETIMEDOUT':
      return `connection timed out: ${e.message}`
    case '28P01':
    case '28000':
    case '3D000':
      return `PostgreSQL refused the connection: ${e.message} (check --db)`
    case 'SQLITE_CANTOPEN':
      return `cannot open the SQLite database: ${e.message} (check --db)`
    default:
      return undefined
  }
}

/** Where the built SDK and the demo page live, relative to this file (dist/cli.js or src/cli.ts). */
function assetDir(relative: string): string | null {
  const dir = fileURLToPath(new URL(relative, import.meta.url))
  return existsSync(dir) ? dir : null
}

class UsageError extends Error {}

/** Runs the `parley` command; returns the exit code. */
export async function runCli(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  io: PasswordIo = { stdin: process.stdin, prompt: process.stderr },
): Promise<number> {
  const print = (line: string) => out.write(line + '\n')
  const [command, sub, ...rest] = argv
  try {
    if (!command || command === '--help' || command === 'help' || command === '-h') {
      if (command) {
        print(USAGE)
        return 0
      }
      process.stderr.write(`parley: which command? (see parley --help)\n`)
      return 2
    }
    if (command === '--version' || command === '-v' || command === 'version') {
      print(parleyVersion())
      return 0
    }
    const wantsHelp = argv.slice(1).some((a) => a === '--help' || a === '-h')
    if (command === 'serve' && wantsHelp) {
      print(serveHelp())
      return 0
    }
    if (wantsHelp) {
      const help = commandHelp(command, sub === '--help' || sub === '-h' ? undefined : sub)
      if (!help)
        throw new UsageError(`unknown command "${command}${sub && !sub.startsWith('-') ? ' ' + sub : ''}"`)
      print(help)
      return 0
    }
    if (command === 'serve') return await serve(argv.slice(1))
    if (isAnonymousCommand(command)) {
      try {
        return await runAnonymousCommand(argv, print)
      } catch (err) {
        throw err instanceof AnonymousUsageError ? new UsageError(err.message) : err
      }
    }
    if (isNumberCommand(command)) {
      try {
        return await runNumberCommand(argv, print)
      } catch (err) {
        throw err instanceof NumberUsageError ? new UsageError(err.message) : err
      }
    }
    const key = `${command} ${sub ?? ''}`
    const options = {
      db: { type: 'string' },
      name: { type: 'string' },
      'client-id': { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      limit: { type: 'string' },
      force: { type: 'boolean' },
      create: { type: 'boolean' },
      operator: { type: 'boolean' },
    } as const
    type Flag = 'create' | 'force' | 'password-stdin' | 'operator'
    let values: { [k in Exclude<keyof typeof options, Flag>]?: string } & { [k in Flag]?: boolean }
    try {
      values = parseArgs({ args: rest, options, strict: true, allowPositionals: false }).values
    } catch (err) {
      throw new UsageError((err as Error).message)
    }
    const need = (name: Exclude<keyof typeof options, Flag>): string => {
      const v = values[name]
      if (!v) throw new UsageError(`${key.trim()} needs --${name}`)
      return v
    }
    const run = <T>(fn: (ctx: ServiceContext) => Promise<T>): Promise<T> =>
      withAdminContext(values, process.env, fn)
    // Asked before the database is opened, so that a refused command line changes nothing.
    const password = async (subject: string): Promise<string> => {
      try {
        return await readPassword(
          { flag: values.password, fromStdin: values['password-stdin'] === true, subject },
          io,
        )
      } catch (err) {
        if (err instanceof PasswordUsageError) throw new UsageError(`${key.trim()}: ${err.message}`)
        if (err instanceof PasswordInputError) throw new AdminError(err.message)
        throw err
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
      case 'account list': {
        for (const account of await run((ctx) => listAccounts(ctx))) print(JSON.stringify(account))
        return 0
      }
      case 'account delete': {
        const clientId = need('client-id')
        const force = values.force === true
        print(JSON.stringify(await run((ctx) => deleteAccount(ctx, clientId, { force }))))
        return 0
      }
      case 'user create':
      case 'user password': {
        const [clientId, login] = [need('client-id'), need('username')]
        const input = { clientId, login, password: await password(login) }
        if (key === 'user create') print(JSON.stringify(await run((ctx) => createUser(ctx, input))))
        else print(JSON.stringify({ passwordChanged: await run((ctx) => setPassword(ctx, input)) }))
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
      case 'admin create': {
        const operator = values.operator === true
        if (operator && values['client-id'])
          throw new UsageError('admin create takes --client-id ID or --operator, not both')
        const clientId = operator ? undefined : need('client-id')
        const username = need('username')
        const input = { username, password: await password(username) }
        const created = await run((ctx) =>
          createAdmin(ctx, clientId === undefined ? input : { ...input, clientId }),
        )
        print(JSON.stringify(created))
        return 0
      }
      case 'admin list': {
        for (const a of await run((ctx) => listAdmins(ctx, values['client-id']))) print(JSON.stringify(a))
        return 0
      }
      case 'admin delete': {
        const username = need('username')
        print(JSON.stringify({ deleted: await run((ctx) => deleteAdmin(ctx, username)) }))
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
      const withSub = sub && !sub.startsWith('-') ? `${command} ${sub}` : command
      const hint =
        command === 'serve'
          ? 'parley serve --help'
          : command && withSub && commandHelp(command, sub && !sub.startsWith('-') ? sub : undefined)
            ? `parley ${withSub} --help`
            : command && commandHelp(command, undefined)
              ? `parley ${command} --help`
              : 'parley --help'
      process.stderr.write(`parley: ${err.message} (see ${hint})\n`)
      return 2
    }
    if (err instanceof ConfigError && command === 'serve') {
      process.stderr.write(`parley: ${err.message} (see parley serve --help)\n`)
      return 2
    }
    if (
      err instanceof AdminError ||
      err instanceof ConfigError ||
      err instanceof StoreUrlError ||
      err instanceof StartupError ||
      err instanceof CoturnError ||
      err instanceof RtpengineSpawnError
    ) {
      process.stderr.write(`parley: ${err.message}\n`)
      return 1
    }
    const known = operationalMessage(err)
    if (known) {
      process.stderr.write(`parley: ${known}\n`)
      return 1
    }
    // Anything else is a bug or an error without a known shape: one line, the details at debug level.
    process.stderr.write(`parley: ${(err as Error)?.message?.split('\n')[0] ?? String(err)}\n`)
    const level = process.env.PARLEY_LOG_LEVEL ?? argv[argv.indexOf('--log-level') + 1]
    if (level === 'debug' || level === 'trace') process.stderr.write(`${(err as Error)?.stack ?? ''}\n`)
    else process.stderr.write('parley: (run with --log-level debug for the details)\n')
    return 1
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
  // For the person at the terminal: on stderr, in a block of its own, so that stdout stays JSON log lines.
  const lines = [
    '',
    '────────────────────────────────────────────────────────────',
    `Parley is running at ${server.url}`,
  ]
  if (server.demo) {
    lines.push('', 'Demo account created (shown once):', `  Client ID: ${server.demo.clientId}`)
    for (const u of server.demo.users) lines.push(`  ${u.login}  password: ${u.password}`)
    lines.push(`Open ${server.url}/ in two browser tabs, log in as the two users and call.`)
  }
  lines.push('Ctrl-C stops it.', '────────────────────────────────────────────────────────────', '')
  process.stderr.write(lines.join('\n') + '\n')
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
