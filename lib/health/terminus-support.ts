import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { TERMINUS_MISSING, TERMINUS_UNREADABLE } from './health.messages';

/** What the installed `@nestjs/terminus` understands. @internal */
export interface TerminusSupport {
  version: string;
  /** Terminus 12 and later accept `'degraded'` as an indicator status (answered with 200). */
  degraded: boolean;
}

/**
 * Reads the installed Terminus' package.json (never its code, so nothing of Terminus is
 * loaded here, and an ES-module-only Terminus needs no `require()` of an ES module).
 * `load` exists for tests. @internal
 */
export function detectTerminus(
  load: () => unknown = () =>
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy: Terminus is an optional peer
    require('@nestjs/terminus/package.json'),
): TerminusSupport {
  let manifest: unknown;
  try {
    manifest = load();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
      throw new ResilienceConfigError(TERMINUS_MISSING, 'ResilienceHealthIndicator');
    }
    throw new ResilienceConfigError(
      TERMINUS_UNREADABLE(error instanceof Error ? error.message : String(error)),
      'ResilienceHealthIndicator',
    );
  }
  const version = (manifest as { version?: unknown } | null)?.version;
  const major = typeof version === 'string' ? Number.parseInt(version, 10) : NaN;
  if (!Number.isInteger(major)) {
    throw new ResilienceConfigError(
      TERMINUS_UNREADABLE(`unexpected version ${JSON.stringify(version)}`),
      'ResilienceHealthIndicator',
    );
  }
  return { version: version as string, degraded: major >= 12 };
}

let detected: TerminusSupport | undefined;

/** `detectTerminus()`, once per process (a failure is not cached). @internal */
export function terminusSupport(): TerminusSupport {
  return (detected ??= detectTerminus());
}
