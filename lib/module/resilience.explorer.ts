import { Injectable, OnModuleInit, Type } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { ResilienceRegistry } from '../registry/resilience.registry';
import { getOriginal, getPolicySpecs, Host } from './add-policy';
import { createInvoker, declaredReturnKind } from './invoker';
import { PolicyFactory } from './policy.factory';
import { WRAPPED_METHODS } from './resilience.constants';

type AnyFn = (...args: unknown[]) => unknown;
type MethodTable = Record<string | symbol, AnyFn>;

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
    for (const wrapper of wrappers) this.explore(wrapper);
  }

  private explore(wrapper: InstanceWrapper): void {
    const isStatic = wrapper.isDependencyTreeStatic() && !wrapper.isTransient;
    const instance = wrapper.instance as Host | undefined;
    const isClassProvider = !wrapper.inject && typeof wrapper.metatype === 'function';
    let proto: object | null = null;
    if (isStatic) {
      if (instance && typeof instance === 'object') proto = Object.getPrototypeOf(instance);
    } else if (isClassProvider) {
      proto = (wrapper.metatype as Type).prototype;
    }
    if (!proto) return;
    const className = (proto.constructor as { name?: string })?.name || String(wrapper.name);
    const table = this.buildTable(proto, className);
    if (!table) return;
    if (isStatic) {
      install(instance as Host, table);
      return;
    }
    for (const perContext of wrapper.getStaticTransientInstances?.() ?? []) {
      if (perContext?.instance) install(perContext.instance as Host, table);
    }
    if (isClassProvider) wrapper.metatype = protectedSubclass(wrapper.metatype as Type, table);
  }

  private buildTable(proto: object, className: string): MethodTable | undefined {
    let table: MethodTable | undefined;
    for (const key of this.scanner.getAllMethodNames(proto)) {
      const method = (proto as Record<string, unknown>)[key];
      const specs = getPolicySpecs(method);
      if (!specs?.length) continue;
      const target = `${className}.${key}`;
      const plan = this.factory.plan(specs, target, proto, declaredReturnKind(proto, key));
      (table ??= {})[key] = createInvoker(plan, getOriginal(method as AnyFn), this.registry);
    }
    return table;
  }
}

function install(instance: Host, table: MethodTable): void {
  if (Object.prototype.hasOwnProperty.call(instance, WRAPPED_METHODS)) return; // one instance, two tokens
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
