/** The SDK version, injected by the build (scripts/build.mjs); `0.0.0-dev` when running from source. */
declare const __PARLEY_VERSION__: string | undefined

export const VERSION: string = typeof __PARLEY_VERSION__ === 'string' ? __PARLEY_VERSION__ : '0.0.0-dev'
