import { splitArgs } from '../circuit-breaker/circuit-breaker.decorator';
import { addPolicy } from '../module/add-policy';
import type { ChaosOptions } from './chaos.options';

/**
 * Injects faults into a share of the method's calls: an error (`fault`), a delay
 * (`latency`) or a substitute value (`result`), at `rate` (0..1). Inactive unless the
 * module option `chaos.enabled` is true: then the method gets no chaos step at all.
 * The fault sits innermost, next to the method, so the method's other policies handle it
 * like a real one. Without a name the policy is named `ClassName.methodName`.
 * @publicApi
 */
export function Chaos(options: ChaosOptions): MethodDecorator;
export function Chaos(name: string, options: ChaosOptions): MethodDecorator;
export function Chaos(
  nameOrOptions: string | ChaosOptions,
  maybeOptions?: ChaosOptions,
): MethodDecorator {
  const [name, options] = splitArgs('Chaos', nameOrOptions, maybeOptions);
  return addPolicy({ kind: 'chaos', name, options });
}
