/** `getBrowserDetails()` (sdk-api §2.10), from the user agent string. */
export interface BrowserDetails {
  browser: string
  version: number | null
}

export function browserDetails(userAgent: string | undefined): BrowserDetails {
  const ua = userAgent ?? ''
  const major = (re: RegExp) => {
    const m = re.exec(ua)
    return m ? Number(m[1]) : null
  }
  if (/Firefox\/\d+/.test(ua)) return { browser: 'firefox', version: major(/Firefox\/(\d+)/) }
  if (/(Chrome|Chromium|CriOS)\/\d+/.test(ua))
    return { browser: 'chrome', version: major(/(?:Chrome|Chromium|CriOS)\/(\d+)/) }
  if (/Safari\/\d+/.test(ua) && /Version\/\d+/.test(ua))
    return { browser: 'safari', version: major(/Version\/(\d+)/) }
  return { browser: ua ? `unsupported (${ua.split(' ')[0] ?? ua})` : 'unknown', version: null }
}
