import { splitArgs } from '../circuit-breaker/circuit-breaker.decorator';
import { addPolicy } from '../module/add-policy';
import type { TimeoutOptions } from './timeout.options';

/**
 * Fails a call that runs longer than `timeout` ms with `TimeoutError`, at once, and
 * aborts the `AbortSignal` the method reads with `currentSignal()`.
 * `@Timeout(500)`, `@Timeout({ timeout: 500 })` or `@Timeout('name', 500)`.
 * @publicApi
 */
export function Timeout(timeout: number | Partial<TimeoutOptions>): MethodDecorator;
export function Timeout(name: string, timeout: number | Partial<TimeoutOptions>): MethodDecorator;
export function Timeout(
  first: string | number | Partial<TimeoutOptions>,
  second?: number | Partial<TimeoutOptions>,
): MethodDecorator {
  const toOptions = (v: unknown) => (typeof v === 'number' ? { timeout: v } : v);
  const [name, options] =
    typeof first === 'string'
      ? splitArgs('Timeout', first, toOptions(second) as Partial<TimeoutOptions> | undefined)
      : splitArgs('Timeout', toOptions(first) as Partial<TimeoutOptions> | undefined, undefined);
  return addPolicy({ kind: 'timeout', name, options });
}
