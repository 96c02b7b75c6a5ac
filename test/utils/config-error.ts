import { ResilienceConfigError } from '../../lib/common/errors/resilience-config.error';

/** Runs `fn`, expects it to throw a `ResilienceConfigError`, and returns that error. */
export function configErrorOf(fn: () => unknown): ResilienceConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ResilienceConfigError);
    return error as ResilienceConfigError;
  }
  throw new Error('expected a ResilienceConfigError');
}
