import { Injectable } from '@nestjs/common';
import { ChaosOptions, resolveChaosOptions } from '../chaos/chaos.options';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import type { PolicyKind } from '../common/events';
import type { Policy } from '../common/policy';
import { UNKNOWN_FALLBACK, UNKNOWN_POLICY } from '../common/resilience.messages';
import { ResilienceRegistry } from '../registry/resilience.registry';
import type { MethodPlan, Recovery, ReturnKind } from './invoker';
import { byContractOrder, PolicySpec } from './policy-spec';
import type { FallbackHandler } from './resilience-module-options.interface';
import type { DeadLetterOptions } from '../dead-letter/dead-letter.options';

interface ConcreteSpec {
  kind: Exclude<PolicyKind, 'slo'>;
  name: string;
  options: unknown;
  /** Where it came from, for error messages. */
  origin: string;
}

/**
 * Turns the specs recorded by decorators into a method's plan: `@UsePolicy` sets
 * expanded, names defaulted, policies fetched from (or created in) this
 * application's registry, in contract order.
 * @internal
 */
@Injectable()
export class PolicyFactory {
  constructor(private readonly registry: ResilienceRegistry) {}

  plan(
    specs: readonly PolicySpec[],
    target: string,
    proto: object,
    returns: ReturnKind,
  ): MethodPlan {
    const concrete = this.expand(specs, target);
    const policies: Policy[] = [];
    let recovery: Recovery | undefined;
    let deadLetter: ConcreteSpec | undefined;
    for (const spec of byContractOrder(concrete)) {
      if (spec.kind === 'deadLetter') {
        deadLetter = spec;
        continue;
      }
      if (spec.kind === 'fallback') {
        recovery = this.recovery(spec, target, proto);
        continue;
      }
      if (spec.kind === 'chaos' && !this.registry.options.chaos.enabled) continue; // off: no step
      policies.push(this.registry.getOrCreate(spec.kind, spec.name, spec.options));
    }
    const measured = this.registry.withSlo(policies, this.sloName(specs, policies, target));
    return {
      target,
      policies: deadLetter
        ? this.registry.withDeadLetter(
            measured,
            target, // API §6: the breaker's name if there is one, else ClassName.methodName
            target,
            deadLetter.options as DeadLetterOptions | undefined,
          )
        : measured,
      recovery,
      returns,
      exposesSignal: policies.some((p) => p.kind === 'timeout'),
    };
  }

  /**
   * The name a method's calls are measured under for the module option `slo`: its circuit
   * breaker's name, else the name of the `@UsePolicy` set it uses (of several, the one
   * applied last, as for its policies), else `ClassName.methodName`.
   */
  private sloName(
    specs: readonly PolicySpec[],
    policies: readonly Policy[],
    target: string,
  ): string {
    const breaker = policies.find((policy) => policy.kind === 'circuitBreaker');
    if (breaker) return breaker.name;
    let set: string | undefined;
    for (const spec of specs) if (spec.kind === 'usePolicy') set = spec.name;
    return set ?? target;
  }

  /** Records the options each named policy of these specs is declared with. */
  declare(specs: readonly PolicySpec[], target: string): void {
    for (const spec of this.expand(specs, target)) {
      if (spec.kind === 'fallback' || spec.kind === 'deadLetter') continue;
      if (spec.kind === 'chaos' && !this.registry.options.chaos.enabled) {
        // switched off, chaos still fails bootstrap where switching it on would
        resolveChaosOptions(spec.name, spec.options as ChaosOptions);
      }
      this.registry.declare(spec.kind, spec.name, spec.options);
    }
  }

  private expand(specs: readonly PolicySpec[], target: string): ConcreteSpec[] {
    const explicit = new Map<PolicyKind, ConcreteSpec>();
    const fromSets = new Map<PolicyKind, ConcreteSpec>();
    for (const spec of specs) {
      if (spec.kind === 'usePolicy') {
        const setName = spec.name as string;
        const config = this.registry.options.policies[setName];
        if (!config) {
          throw new ResilienceConfigError(
            UNKNOWN_POLICY(setName, target, Object.keys(this.registry.options.policies)),
            setName,
            'policy',
            setName,
          );
        }
        for (const [kind, options] of Object.entries(config)) {
          if (options === undefined) continue;
          fromSets.set(kind as ConcreteSpec['kind'], {
            kind: kind as ConcreteSpec['kind'],
            name: setName,
            options,
            origin: `@UsePolicy('${setName}')`,
          });
        }
        continue;
      }
      const kind = spec.kind;
      if (explicit.has(kind)) {
        throw new ResilienceConfigError(
          `${target} has two @${kind} decorators; a method takes at most one policy of each kind.`,
          target,
          kind,
        );
      }
      explicit.set(kind, {
        kind,
        name: spec.name ?? target,
        options: spec.options,
        origin: `@${kind}`,
      });
    }
    // an explicit decorator replaces the policy set's policy of the same kind
    for (const [kind, spec] of explicit) fromSets.set(kind, spec);
    const all = [...fromSets.values()];
    // with a circuit breaker, the method's policy set is known by the breaker's name
    return all;
  }

  private recovery(spec: ConcreteSpec, target: string, proto: object): Recovery {
    const handler = spec.options as FallbackHandler;
    if (typeof handler === 'string') {
      if (typeof (proto as Record<string, unknown>)[handler] !== 'function') {
        throw new ResilienceConfigError(
          UNKNOWN_FALLBACK(target, handler),
          target,
          'fallback',
          handler,
        );
      }
      const byName = function (this: Record<string, AnyFn>, error: unknown, ...args: unknown[]) {
        return this[handler](error, ...args);
      };
      return this.registry.getOrCreate('fallback', spec.name, byName) as Recovery;
    }
    return this.registry.getOrCreate('fallback', spec.name, handler) as Recovery;
  }
}

type AnyFn = (...args: unknown[]) => unknown;
