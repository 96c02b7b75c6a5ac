import { ResilienceError } from './resilience.error';

/**
 * Bad configuration. Thrown when a class is decorated, when module options are
 * resolved or when the explorer wires methods: always at bootstrap, never on a call.
 * `key` and `value` name what is wrong.
 * @publicApi
 */
export class ResilienceConfigError extends ResilienceError {
  constructor(
    message: string,
    policyName = '',
    readonly key?: string,
    readonly value?: unknown,
  ) {
    super(message, policyName);
  }
}
