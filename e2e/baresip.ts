import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { connect } from 'node:net'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * Debian's baresip as the carrier's far phone (testing.md "Phone calls"): on 127.0.0.2:5060 with the account of
 * a number, auto-answering, playing a 1 kHz tone made with sox, and recording what it receives (sndfile). `stdbuf -oL` makes its log (stdout) arrive line by line.
 */
export interface FarPhone {
  child: ChildProcess
  log(): string
  exited: Promise<number | null>
  /** The WAV of what baresip received (undefined until a call has had audio). */
  recording(): string | undefined
  /** Stops baresip (SIGTERM) and removes its files. */
  stop(): Promise<void>
  /** Runs a baresip command (`hangup`, `dial sip:…`) through ctrl_tcp; needs `{ control: true }`. */
  command(command: string, params?: string): Promise<void>
}

/** ctrl_tcp's port on FAR_PHONE_IP (JSON commands in netstrings). */
const CONTROL_PORT = 4444

export const FAR_PHONE_IP = '127.0.0.2'

export async function farPhone(
  number: string,
  extra: string[] = [],
  options: { control?: boolean } = {},
): Promise<FarPhone> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-baresip-'))
  const tone = join(dir, 'tone.wav')
  const sox = spawnSync('sox', [
    ...['-n', '-r', '8000', '-c', '1', '-b', '16', '-e', 'signed-integer', tone],
    ...['synth', '30', 'sine', '1000', 'vol', '0.5'],
  ])
  if (sox.status !== 0) throw new Error(`sox failed: ${sox.stderr?.toString()}`)
  // baresip does not bind `lo` by name: net_interface takes the address (testing.md).
  writeFileSync(
    join(dir, 'config'),
    [
      'poll_method epoll',
      `sip_listen ${FAR_PHONE_IP}:5060`,
      `net_interface ${FAR_PHONE_IP}`,
      // baresip 1.0's aufile only plays files; the sndfile filter records each direction as a WAV in snd_path
      // (`dump-PEER-dec.wav`: what it received and decoded; `-enc`: what it sent).
      `snd_path ${dir}`,
      `audio_source aufile,${tone}`,
      `audio_alert aufile,${tone}`,
      'ausrc_srate 8000',
      'auplay_srate 8000',
      'ausrc_channels 1',
      'auplay_channels 1',
      'module_path /usr/lib/baresip/modules',
      'module g711.so',
      'module aufile.so',
      'module sndfile.so',
      'module_app account.so',
      'module_app menu.so',
      ...(options.control
        ? ['module_app ctrl_tcp.so', `ctrl_tcp_listen ${FAR_PHONE_IP}:${CONTROL_PORT}`]
        : []),
      '',
    ].join('\n'),
  )
  writeFileSync(join(dir, 'accounts'), `<sip:${number}@${FAR_PHONE_IP}>;regint=0;answermode=auto\n`)
  const child = spawn('stdbuf', ['-oL', '-eL', 'baresip', '-f', dir, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const keep = (b: Buffer) => (output = (output + b.toString()).slice(-50_000))
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
  const phone: FarPhone = {
    child,
    log: () => output,
    exited,
    recording: () => {
      const file = readdirSync(dir).find((f) => /^dump-.*-dec\.wav$/.test(f))
      return file === undefined ? undefined : join(dir, file)
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    },
    command: (command, params = '') =>
      new Promise<void>((resolve, reject) => {
        const json = JSON.stringify({ command, params, token: 'e2e' })
        const socket = connect(CONTROL_PORT, FAR_PHONE_IP, () =>
          socket.write(`${Buffer.byteLength(json)}:${json},`),
        )
        let answer = ''
        const timer = setTimeout(() => {
          socket.destroy()
          reject(new Error(`baresip did not answer the command ${command} within 5 s: ${answer}`))
        }, 5_000)
        socket.on('data', (d) => {
          answer += String(d)
          if (!answer.includes('"response":true')) return
          clearTimeout(timer)
          socket.end()
          if (answer.includes('"ok":true')) resolve()
          else reject(new Error(`baresip refused the command ${command}: ${answer}`))
        })
        socket.on('error', (err) => {
          clearTimeout(timer)
          reject(err)
        })
      }),
  }
  const deadline = Date.now() + 10_000
  while (!output.includes('baresip is ready')) {
    if (Date.now() > deadline || child.exitCode !== null) {
      await phone.stop()
      throw new Error(`baresip did not get ready within 10 s:\n${output}`)
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  return phone
}

/** Fails with the apt-get line when baresip, sox or rtpengine (the PSTN tests' far end and gateway) is missing. */
export function requirePstnTools(): void {
  for (const [bin, pkg] of [
    ['baresip', 'baresip'],
    ['sox', 'sox'],
    ['rtpengine', 'rtpengine-daemon'],
  ] as const)
    if (spawnSync(bin, ['-v']).error) throw new Error(`${bin} is missing: apt-get install -y ${pkg}`)
}

/** RMS amplitude (0…1) of a WAV file, from `sox FILE -n stat`. */
export function rmsOf(wav: string): number {
  const stat = spawnSync('sox', [wav, '-n', 'stat'], { encoding: 'utf8' })
  const match = /RMS\s+amplitude:\s+([\d.]+)/.exec(stat.stderr)
  if (!match) throw new Error(`sox stat of ${wav} failed: ${stat.stderr}`)
  return Number(match[1])
}

/** One RTP packet seen on the wire. */
export interface CapturedRtp {
  payloadType: number
  payload: Buffer
}

/**
 * Captures the RTP packets sent to a UDP `port` on loopback with tcpdump (`-x`: each packet's bytes), as the
 * far phone receives them. Only inside e2e/run.sh's namespace (root there; its loopback is the test's own).
 */
export async function captureRtp(port: number): Promise<{ packets(): CapturedRtp[]; stop(): Promise<void> }> {
  if (spawnSync('tcpdump', ['--version']).error)
    throw new Error('tcpdump is missing: apt-get install -y tcpdump')
  const child = spawn('tcpdump', ['-i', 'lo', '-n', '-l', '-x', '-U', `udp and dst port ${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let text = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => (text += String(d)))
  child.stderr!.on('data', (d: Buffer) => (err += String(d)))
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()))
  const deadline = Date.now() + 5_000
  while (!err.includes('listening on')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`tcpdump did not start: ${err}`)
    await new Promise((r) => setTimeout(r, 25))
  }
  return {
    packets: () =>
      text
        .split(/\n(?=\S)/)
        .map((block): CapturedRtp | undefined => {
          const hex = [...block.matchAll(/^\s+0x[0-9a-f]+:\s+((?:[0-9a-f]{4}\s?)+)/gm)]
            .map((m) => m[1]!.replace(/\s/g, ''))
            .join('')
          const bytes = Buffer.from(hex, 'hex')
          // IPv4 header (its length in the low nibble), UDP header, then the RTP header (RFC 3550 §5.1).
          const rtp = bytes.subarray(((bytes[0] ?? 0) & 0x0f) * 4 + 8)
          if (rtp.length < 12 || rtp[0]! >> 6 !== 2) return undefined
          const headerLength = 12 + (rtp[0]! & 0x0f) * 4
          return { payloadType: rtp[1]! & 0x7f, payload: rtp.subarray(headerLength) }
        })
        .filter((p): p is CapturedRtp => p !== undefined),
    async stop() {
      child.kill('SIGTERM')
      await exited
    },
  }
}
