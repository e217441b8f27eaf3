import { parseArgs } from 'node:util'
import { withAdminContext } from './admin-context.js'
import {
  allowDestination,
  createProjectKey,
  deleteProjectKey,
  denyDestination,
  listDestinations,
  listProjectKeys,
} from '../services/anonymous.js'
import type { ServiceContext } from '../services/context.js'

/** Usage text of the anonymous-call commands (issue 15), for the `parley` help. */
export const ANONYMOUS_USAGE = `  key create --client-id ID [--name N] [--ttl SECONDS]   project key for anonymous calls;
                                prints {"key", "secret", …} once (the secret is stored hashed)
  key list [--client-id ID]     keys as JSON lines (never their secrets)
  key delete --key KEY          delete a key and the anonymous identities it issued
  anonymous allow --client-id ID --destination USER@DOMAIN|+E164
  anonymous list [--client-id ID]
  anonymous deny --client-id ID --destination USER@DOMAIN|+E164`

/** A malformed command line (the CLI answers with its usage and exit code 2). */
export class AnonymousUsageError extends Error {
  override readonly name = 'AnonymousUsageError'
}

const OPTIONS = {
  db: { type: 'string' },
  name: { type: 'string' },
  'client-id': { type: 'string' },
  ttl: { type: 'string' },
  key: { type: 'string' },
  destination: { type: 'string' },
  create: { type: 'boolean' },
} as const

/** Whether `parley <command> …` is one of these commands. */
export function isAnonymousCommand(command: string | undefined): boolean {
  return command === 'key' || command === 'anonymous'
}

/**
 * Runs `parley key …` / `parley anonymous …` (`argv` without the program name); every result is printed as one
 * JSON object per line. Failures throw AdminError (exit 1) or AnonymousUsageError (exit 2).
 */
export async function runAnonymousCommand(
  argv: string[],
  print: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const [command, sub, ...rest] = argv
  const name = `${command ?? ''} ${sub ?? ''}`.trim()
  let values: { [k in Exclude<keyof typeof OPTIONS, 'create'>]?: string } & { create?: boolean }
  try {
    values = parseArgs({ args: rest, options: OPTIONS, strict: true, allowPositionals: false }).values
  } catch (err) {
    throw new AnonymousUsageError((err as Error).message)
  }
  const need = (option: Exclude<keyof typeof OPTIONS, 'create'>): string => {
    const v = values[option]
    if (!v) throw new AnonymousUsageError(`${name} needs --${option}`)
    return v
  }
  const run = <T>(fn: (ctx: ServiceContext) => Promise<T>): Promise<T> => withAdminContext(values, env, fn)
  const clientId = values['client-id']
  switch (name) {
    case 'key create': {
      const id = need('client-id')
      let ttlSeconds: number | undefined
      if (values.ttl !== undefined) {
        ttlSeconds = Number(values.ttl)
        if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0)
          throw new AnonymousUsageError('--ttl must be a positive integer number of seconds')
      }
      const input = {
        clientId: id,
        ...(values.name !== undefined ? { name: values.name } : {}),
        ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
      }
      print(JSON.stringify(await run((ctx) => createProjectKey(ctx, input))))
      return 0
    }
    case 'key list':
      for (const k of await run((ctx) => listProjectKeys(ctx, clientId))) print(JSON.stringify(k))
      return 0
    case 'key delete': {
      const key = need('key')
      print(JSON.stringify(await run((ctx) => deleteProjectKey(ctx, key))))
      return 0
    }
    case 'anonymous allow': {
      const [id, destination] = [need('client-id'), need('destination')]
      print(JSON.stringify(await run((ctx) => allowDestination(ctx, id, destination))))
      return 0
    }
    case 'anonymous list':
      for (const d of await run((ctx) => listDestinations(ctx, clientId))) print(JSON.stringify(d))
      return 0
    case 'anonymous deny': {
      const [id, destination] = [need('client-id'), need('destination')]
      print(JSON.stringify(await run((ctx) => denyDestination(ctx, id, destination))))
      return 0
    }
    default:
      throw new AnonymousUsageError(`unknown command "${name}"`)
  }
}
