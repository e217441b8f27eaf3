import { parseArgs } from 'node:util'
import { withAdminContext } from './admin-context.js'
import type { ServiceContext } from '../services/context.js'
import { addNumber, assignNumber, deleteNumber, listNumbers } from '../services/numbers.js'

/** Usage text of the telephone number commands (issue 11), for the `parley` help. */
export const NUMBER_USAGE = `  number add --client-id ID --number +E164 [--user USER@DOMAIN]   a number of the account (unique on the server)
  number assign --number +E164 --user USER@DOMAIN   give it to a user of its account (first number: caller ID)
  number list [--client-id ID]  numbers as JSON lines
  number delete --number +E164  delete a number`

/** A malformed command line (the CLI answers with a hint and exit code 2). */
export class NumberUsageError extends Error {
  override readonly name = 'NumberUsageError'
}

const OPTIONS = {
  db: { type: 'string' },
  'client-id': { type: 'string' },
  number: { type: 'string' },
  user: { type: 'string' },
  create: { type: 'boolean' },
} as const

type StringOption = Exclude<keyof typeof OPTIONS, 'create'>

/** The options each command takes (others are refused, so that a misplaced flag is not silently ignored). */
const ALLOWED: Record<string, readonly StringOption[]> = {
  'number add': ['db', 'client-id', 'number', 'user'],
  'number assign': ['db', 'number', 'user'],
  'number list': ['db', 'client-id'],
  'number delete': ['db', 'number'],
}

/** Whether `parley <command> …` is one of these commands. */
export function isNumberCommand(command: string | undefined): boolean {
  return command === 'number'
}

/**
 * Runs `parley number …` (`argv` without the program name); every result is printed as one JSON object per
 * line. Failures throw AdminError (exit 1) or NumberUsageError (exit 2).
 */
export async function runNumberCommand(
  argv: string[],
  print: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const [command, sub, ...rest] = argv
  const name = `${command ?? ''} ${sub ?? ''}`.trim()
  const allowed = ALLOWED[name]
  if (!allowed) throw new NumberUsageError(`unknown command "${name}"`)
  let values: { [k in StringOption]?: string } & { create?: boolean }
  try {
    values = parseArgs({ args: rest, options: OPTIONS, strict: true, allowPositionals: false }).values
  } catch (err) {
    throw new NumberUsageError((err as Error).message)
  }
  const stray = (Object.keys(values) as (keyof typeof OPTIONS)[]).find(
    (k) => k !== 'create' && !allowed.includes(k),
  )
  if (stray) throw new NumberUsageError(`${name} does not take --${stray}`)
  const need = (option: StringOption): string => {
    const v = values[option]
    if (!v) throw new NumberUsageError(`${name} needs --${option}`)
    return v
  }
  const run = <T>(fn: (ctx: ServiceContext) => Promise<T>): Promise<T> => withAdminContext(values, env, fn)
  switch (name) {
    case 'number add': {
      const input = {
        clientId: need('client-id'),
        number: need('number'),
        ...(values.user !== undefined ? { user: need('user') } : {}),
      }
      print(JSON.stringify(await run((ctx) => addNumber(ctx, input))))
      return 0
    }
    case 'number assign': {
      const input = { number: need('number'), user: need('user') }
      print(JSON.stringify(await run((ctx) => assignNumber(ctx, input))))
      return 0
    }
    case 'number list': {
      const clientId = values['client-id']
      for (const n of await run((ctx) => listNumbers(ctx, clientId))) print(JSON.stringify(n))
      return 0
    }
    default: {
      const number = need('number')
      print(JSON.stringify(await run((ctx) => deleteNumber(ctx, number))))
      return 0
    }
  }
}
