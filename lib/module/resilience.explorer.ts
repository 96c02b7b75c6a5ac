import { Injectable, OnModuleInit, Type } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { ResilienceRegistry } from '../registry/resilience.registry';
import { getOriginal, getPolicySpecs, Host } from './add-policy';
import { createInvoker, declaredReturnKind, Invoker } from './invoker';
import type { PolicySpec } from './policy-spec';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { SHARED_INSTANCE } from '../common/resilience.messages';
import { PolicyFactory } from './policy.factory';
import { WRAPPED_METHODS } from './resilience.constants';

type AnyFn = (...args: unknown[]) => unknown;
type MethodTable = Record<string | symbol, Invoker>;

/**
 * At bootstrap, finds every decorated method of every provider and controller of the
 * application and installs its protected version on the instances, where the
 * method's trampoline finds it. Request-scoped and transient classes get their
 * table from the constructor of a thin subclass that Nest instantiates instead, so
 * the instances Nest creates later (per request, per inquirer) are protected by this
 * application's policies too.
 * @internal
 */
@Injectable()
export class ResilienceExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly factory: PolicyFactory,
    private readonly registry: ResilienceRegistry,
  ) {}

  onModuleInit(): void {
    const wrappers = [...this.discovery.getProviders(), ...this.discovery.getControllers()];
    const found = wrappers.map((wrapper) => this.find(wrapper)).filter((f) => f !== undefined);
    // every declaration first, so a bare `@CircuitBreaker('name')` finds the options given
    // to that name anywhere else, whatever order the classes are met in
    for (const { methods } of found) {
      for (const m of methods) this.factory.declare(m.specs, m.target);
    }
    for (const entry of found) this.protect(entry);
    // every method is wired now: names of the module option `slo` can be checked
    this.registry.checkSloNames();
  }

  /** The decorated methods of one provider or controller, if it has any. */
  private find(wrapper: InstanceWrapper): Found | undefined {
    const isStatic = wrapper.isDependencyTreeStatic() && !wrapper.isTransient;
    const instance = wrapper.instance as Host | undefined;
    const isClassProvider = !wrapper.inject && typeof wrapper.metatype === 'function';
    if (!isStatic && !isClassProvider) {
      // a request-scoped or transient factory provider: protect what the factory returns
      if (typeof wrapper.metatype === 'function') {
        const { factory, protect } = this.protectedFactory(wrapper.metatype as AnyFn);
        wrapper.metatype = factory;
        // transient instances injected at bootstrap already exist
        for (const perContext of wrapper.getStaticTransientInstances?.() ?? []) {
          if (perContext?.instance) protect(perContext.instance);
        }
      }
      return undefined;
    }
    const proto: object | null = isStatic
      ? instance && typeof instance === 'object'
        ? Object.getPrototypeOf(instance)
        : null
      : (wrapper.metatype as Type).prototype;
    if (!proto) return undefined;
    const methods = this.decoratedMethods(proto, classNameOf(proto, wrapper));
    return methods.length ? { wrapper, proto, isStatic, isClassProvider, methods } : undefined;
  }

  private protect({ wrapper, proto, isStatic, isClassProvider, methods }: Found): void {
    const table = this.buildTable(proto, methods, isStatic ? wrapper.instance : undefined);
    if (isStatic) {
      install(wrapper.instance as Host, table);
      return;
    }
    for (const perContext of wrapper.getStaticTransientInstances?.() ?? []) {
      if (perContext?.instance) install(perContext.instance as Host, table);
    }
    if (isClassProvider) wrapper.metatype = protectedSubclass(wrapper.metatype as Type, table);
  }

  private decoratedMethods(proto: object, className: string): DecoratedMethod[] {
    const methods: DecoratedMethod[] = [];
    for (const key of this.scanner.getAllMethodNames(proto)) {
      const method = (proto as Record<string, unknown>)[key];
      const specs = getPolicySpecs(method);
      if (specs?.length)
        methods.push({ key, method: method as AnyFn, specs, target: `${className}.${key}` });
    }
    return methods;
  }

  /**
   * The protected methods of one class. `instance` is the one instance of a static provider:
   * its methods become replay targets (`replayDeadLetters`); request-scoped and transient
   * classes have no single instance to replay on.
   */
  private buildTable(proto: object, methods: DecoratedMethod[], instance?: unknown): MethodTable {
    const table: MethodTable = {};
    Object.defineProperty(table, TABLE_OWNER, { value: this.registry });
    for (const { key, method, specs, target } of methods) {
      const plan = this.factory.plan(specs, target, proto, declaredReturnKind(proto, key));
      const original = getOriginal(method);
      this.registry.registerReplayTarget(
        target,
        instance === undefined ? undefined : { instance, plan, original },
      );
      // nothing applies (only switched-off chaos): the trampoline calls the plain method
      if (plan.policies.length === 0 && !plan.recovery) continue;
      table[key] = createInvoker(plan, original, this.registry);
    }
    return table;
  }

  /**
   * Wraps a non-static factory so that every object it returns gets the method table
   * of its class (built once per class, on the first object).
   */
  private protectedFactory(original: AnyFn): {
    factory: AnyFn;
    protect: (result: unknown) => unknown;
  } {
    const tables = new Map<object, MethodTable | null>();
    const protectResult = (result: unknown): unknown => {
      if (!result || typeof result !== 'object') return result;
      const proto = Object.getPrototypeOf(result) as object | null;
      if (!proto) return result;
      let table = tables.get(proto);
      if (table === undefined) {
        const methods = this.decoratedMethods(proto, classNameOf(proto));
        for (const m of methods) this.factory.declare(m.specs, m.target);
        table = methods.length ? this.buildTable(proto, methods) : null;
        tables.set(proto, table);
      }
      if (table) install(result as Host, table);
      return result;
    };
    const factory = function (this: unknown, ...deps: unknown[]) {
      const result = original.apply(this, deps);
      return result instanceof Promise ? result.then(protectResult) : protectResult(result);
    };
    return { factory, protect: protectResult };
  }
}

interface DecoratedMethod {
  key: string;
  method: AnyFn;
  specs: PolicySpec[];
  target: string;
}

interface Found {
  wrapper: InstanceWrapper;
  proto: object;
  isStatic: boolean;
  isClassProvider: boolean;
  methods: DecoratedMethod[];
}

function classNameOf(proto: object, wrapper?: InstanceWrapper): string {
  return (proto.constructor as { name?: string })?.name || String(wrapper?.name ?? 'anonymous');
}

const TABLE_OWNER = Symbol.for('nestjs-fault-tolerance:table-owner');

function install(instance: Host, table: MethodTable): void {
  if (Object.prototype.hasOwnProperty.call(instance, WRAPPED_METHODS)) {
    const installed = instance[WRAPPED_METHODS] as MethodTable & { [TABLE_OWNER]?: unknown };
    const owner = (table as MethodTable & { [TABLE_OWNER]?: unknown })[TABLE_OWNER];
    if (installed[TABLE_OWNER] === owner) return; // one instance behind two tokens of one app
    const name =
      (Object.getPrototypeOf(instance)?.constructor as { name?: string })?.name ?? 'a provider';
    throw new ResilienceConfigError(SHARED_INSTANCE(name), name);
  }
  // enumerable: for a provider with a forwardRef() dependency, Nest copies the constructed
  // instance onto a placeholder object with Object.assign, which skips non-enumerable keys
  Object.defineProperty(instance, WRAPPED_METHODS, {
    value: table,
    configurable: true,
    enumerable: true,
  });
}

/** A subclass, named like its base, whose instances carry this app's method table. */
function protectedSubclass(base: Type, table: MethodTable): Type {
  const subclass = class extends base {
    constructor(...args: any[]) {
      super(...args);
      install(this as unknown as Host, table);
    }
  };
  Object.defineProperty(subclass, 'name', { value: base.name });
  return subclass;
}
