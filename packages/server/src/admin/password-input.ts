import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'

/** Where a command's password comes from (issue 16: never only a flag, which shows in shell history and `ps`). */
export interface PasswordSource {
  /** `--password PW`. */
  flag: string | undefined
  /** `--password-stdin`. */
  fromStdin: boolean
  /** Shown before the prompt, e.g. `alice@example.com`. */
  subject: string
}

/** The standard input a command reads, and the terminal a prompt is written to. */
export interface PasswordIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown }
  /** The prompt goes here (stderr: stdout stays JSON). */
  prompt: NodeJS.WritableStream
}

/** A command line that names no usable password source (exit 2). */
export class PasswordUsageError extends Error {
  override readonly name = 'PasswordUsageError'
}

/** No password could be read (empty stdin, Ctrl-C, mismatch) (exit 1). */
export class PasswordInputError extends Error {
  override readonly name = 'PasswordInputError'
}

/**
 * The password of a command: `--password PW`, or the first line of stdin with `--password-stdin` (its line
 * ending stripped), or, with neither and stdin a terminal, typed twice at a prompt without echo.
 */
export async function readPassword(source: PasswordSource, io: PasswordIo): Promise<string> {
  if (source.flag !== undefined && source.fromStdin)
    throw new PasswordUsageError('give --password or --password-stdin, not both')
  if (source.flag !== undefined) return source.flag
  if (source.fromStdin) {
    const line = await firstLine(io.stdin)
    if (line === undefined) throw new PasswordInputError('--password-stdin: nothing on standard input')
    return line
  }
  if (!io.stdin.isTTY)
    throw new PasswordUsageError(
      'needs a password: --password-stdin (one line on standard input), or run it in a terminal to be asked',
    )
  const first = await promptHidden(io, `Password for ${source.subject}: `)
  const again = await promptHidden(io, 'Repeat the password: ')
  if (first !== again) throw new PasswordInputError('the two passwords differ; nothing was changed')
  return first
}

/** The first line of `input` without its line ending, or undefined when the input ends before any text. */
function firstLine(input: NodeJS.ReadableStream): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input, crlfDelay: Infinity, terminal: false })
    let done = false
    lines.once('line', (line) => {
      done = true
      lines.close()
      // The rest is not read: a writer that keeps the pipe open must not keep the command waiting for its end.
      ;(input as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.()
      resolve(line)
    })
    lines.once('close', () => {
      if (!done) resolve(undefined)
    })
    input.once('error', reject)
  })
}

/**
 * Asks at the terminal without echo: readline edits the line in raw mode and echoes through an output
 * stream that drops everything; the prompt and the final newline are written to `io.prompt` directly.
 */
function promptHidden(io: PasswordIo, question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const muted = new Writable({ write: (_chunk, _encoding, callback) => callback() })
    const rl = createInterface({ input: io.stdin, output: muted, terminal: true })
    io.prompt.write(question)
    let settled = false
    const finish = (fn: () => void) => {
      if (settled) return
      settled = true
      io.prompt.write('\n')
      rl.close()
      fn()
    }
    rl.once('line', (line) => finish(() => resolve(line)))
    rl.once('SIGINT', () => finish(() => reject(new PasswordInputError('cancelled'))))
    rl.once('close', () => finish(() => reject(new PasswordInputError('no password typed'))))
  })
}
