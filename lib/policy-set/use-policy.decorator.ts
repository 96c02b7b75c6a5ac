import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { addPolicy } from '../module/add-policy';

/**
 * Applies the named policy set `options.policies[name]` of `ResilienceModule.forRoot()`.
 * An unknown name fails bootstrap. A decorator of the same kind on the method replaces
 * the set's policy of that kind.
 * @publicApi
 */
export function UsePolicy(name: string): MethodDecorator {
  if (typeof name !== 'string' || name.length === 0) {
    throw new ResilienceConfigError(
      '@UsePolicy needs the name of a configured policy set.',
      '',
      'name',
      name,
    );
  }
  return addPolicy({ kind: 'usePolicy', name, options: undefined });
}
