import { CallContext, toContext, ChildContext } from './call-context';
import { ExecutionGate, IPolicy, Policy, Work } from './policy';

/**
 * Runs `work` through `policies`, the first outermost: `runChain([a, b], w)` is
 * `a(b(w))`. Each level is built only when the level above runs it, so a policy that
 * rejects at once costs the levels below it nothing.
 * @internal
 */
export function runChain<T>(
  policies: readonly Policy[],
  work: Work<T>,
  context: CallContext | undefined,
  args?: readonly unknown[],
): Promise<T> {
  if (policies.length === 0) {
    return Promise.resolve().then(() => work(context ?? new CallContext()));
  }
  return policies[0].run(below(policies, 1, work, args), context, args);
}

/** The work as policy `i` sees it: the policies from `i` inward, then `work`. */
function below<T>(
  policies: readonly Policy[],
  i: number,
  work: Work<T>,
  args: readonly unknown[] | undefined,
): Work<T> {
  if (i === policies.length) return work;
  const policy = policies[i];
  return (c: CallContext) => policy.run(below(policies, i + 1, work, args), c, args);
}

/**
 * Several policies applied as one: `wrap(retry, breaker, timeout)` runs
 * `retry(breaker(timeout(fn)))`. What `ResilienceRegistry.policy(name)` returns.
 * @publicApi
 */
export class PolicySet implements IPolicy {
  /** The shutdown gate of the application that owns the policies, if any. */
  private readonly gate: ExecutionGate | undefined;

  constructor(
    readonly name: string,
    readonly policies: readonly Policy[],
    gate?: ExecutionGate,
  ) {
    this.gate = gate ?? policies.find((policy) => policy.gate)?.gate;
  }

  execute<T>(fn: Work<T>, signal?: AbortSignal | CallContext): Promise<T> {
    const gate = this.gate;
    if (gate === undefined) return this.executeNow(fn, signal);
    if (gate.isShuttingDown) return Promise.reject(gate.shutdownError(this.name));
    return gate.track(this.executeNow(fn, signal));
  }

  private executeNow<T>(fn: Work<T>, signal?: AbortSignal | CallContext): Promise<T> {
    const context = toContext(signal);
    const run = runChain(this.policies, fn, context);
    if (context === signal) return run;
    return run.finally(() => (context as ChildContext).release());
  }
}

/** Composes policies, the first outermost. @publicApi */
export function wrap(...policies: Policy[]): PolicySet {
  return new PolicySet(policies.map((p) => p.name).join('+'), policies);
}
