/**
 * Base class of every error the package throws. `policyName` names the policy that
 * produced it. `isResilienceError` is a brand that survives duplicate package copies.
 * @publicApi
 */
export abstract class ResilienceError extends Error {
  readonly isResilienceError = true;

  constructor(
    message: string,
    readonly policyName: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** True for any error of this package, even from another copy of it. @publicApi */
export const isResilienceError = (error: unknown): error is ResilienceError =>
  error instanceof Error && (error as Partial<ResilienceError>).isResilienceError === true;
