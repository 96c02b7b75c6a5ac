import {
  BulkheadRejectedError,
  BulkheadRejectionReason,
  CallAbortedError,
  CircuitOpenError,
  isResilienceError,
  RateLimitedError,
  ResilienceConfigError,
  ResilienceError,
} from '.';
import { TimeoutError } from './timeout.error';
import * as root from '../../index';

describe('errors (API §3)', () => {
  /** One instance of each error class, with the fields API §3 documents for it. */
  const cases: [string, new (...args: any[]) => ResilienceError, () => ResilienceError, object][] =
    [
      [
        'CircuitOpenError',
        CircuitOpenError,
        () => new CircuitOpenError('payments', 1500),
        { retryAfter: 1500 },
      ],
      ['TimeoutError', TimeoutError, () => new TimeoutError('payments', 250), { timeout: 250 }],
      [
        'BulkheadRejectedError',
        BulkheadRejectedError,
        () => new BulkheadRejectedError('payments', 'queue-timeout'),
        { reason: 'queue-timeout' },
      ],
      [
        'RateLimitedError',
        RateLimitedError,
        () => new RateLimitedError('payments', 700),
        { retryAfter: 700 },
      ],
      [
        'ResilienceConfigError',
        ResilienceConfigError,
        () => new ResilienceConfigError('bad option', 'payments', 'timeout', -1),
        { key: 'timeout', value: -1 },
      ],
      ['CallAbortedError', CallAbortedError, () => new CallAbortedError('payments'), {}],
    ];

  it.each(cases)(
    '%s extends ResilienceError and Error, and carries policyName',
    (className, Class, make, fields) => {
      const error = make();

      expect(error).toBeInstanceOf(Class);
      expect(error).toBeInstanceOf(ResilienceError);
      expect(error).toBeInstanceOf(Error);
      expect(Object.getPrototypeOf(Class.prototype)).toBe(ResilienceError.prototype);
      expect(error.policyName).toBe('payments');
      expect(error.name).toBe(className);
      expect(Class.name).toBe(className);
      expect(error.isResilienceError).toBe(true);
      expect(isResilienceError(error)).toBe(true);
      expect(error).toMatchObject(fields);
      expect(typeof error.message).toBe('string');
      expect(error.message.length).toBeGreaterThan(0);
      expect(error.stack).toContain(className);
      expect(String(error)).toBe(`${className}: ${error.message}`);
    },
  );

  it.each(cases)('%s is exported from the package root', (className, Class) => {
    expect((root as Record<string, unknown>)[className]).toBe(Class);
  });

  it('names the policy and the figures in the messages', () => {
    expect(new CircuitOpenError('payments', 1500).message).toBe(
      'Circuit "payments" is open; calls are rejected for another 1500ms.',
    );
    expect(new TimeoutError('payments', 250).message).toBe(
      'Call through "payments" timed out after 250ms.',
    );
    expect(new RateLimitedError('payments', 700).message).toBe(
      'Rate limit "payments" reached; the next call is permitted in 700ms.',
    );
    expect(new CallAbortedError('payments').message).toBe('Call through "payments" was cancelled.');
    expect(new ResilienceConfigError('bad option', 'payments').message).toBe('bad option');
  });

  it('a half-open CircuitOpenError still carries retryAfter', () => {
    const error = new CircuitOpenError('payments', 0, 1);
    expect(error.retryAfter).toBe(0);
    expect(error.policyName).toBe('payments');
    expect(error.message).toContain('half-open');
  });

  it.each<BulkheadRejectionReason>(['full', 'queue-timeout', 'evicted', 'shutdown'])(
    "BulkheadRejectedError carries reason '%s' and names the policy",
    (reason) => {
      const error = new BulkheadRejectedError('payments', reason);
      expect(error.reason).toBe(reason);
      expect(error.policyName).toBe('payments');
      expect(error.message).toContain('"payments"');
    },
  );

  it('ResilienceConfigError defaults policyName to an empty string and leaves key and value unset', () => {
    const error = new ResilienceConfigError('bad');
    expect(error.policyName).toBe('');
    expect(error.key).toBeUndefined();
    expect(error.value).toBeUndefined();
    expect(isResilienceError(error)).toBe(true);
  });

  it('CallAbortedError keeps the cause it is given', () => {
    const cause = new Error('caller went away');
    expect(new CallAbortedError('payments', { cause }).cause).toBe(cause);
  });

  describe('isResilienceError', () => {
    it('is false for other errors and for non-errors', () => {
      expect(isResilienceError(new Error('plain'))).toBe(false);
      expect(isResilienceError(new TypeError('type'))).toBe(false);
      expect(isResilienceError(undefined)).toBe(false);
      expect(isResilienceError(null)).toBe(false);
      expect(isResilienceError('TimeoutError')).toBe(false);
      // the brand alone, on something that is not an Error, is not enough
      expect(isResilienceError({ isResilienceError: true, message: 'x', name: 'x' })).toBe(false);
    });

    it('recognises an error of another copy of the package by its brand', () => {
      class ForeignTimeoutError extends Error {
        readonly isResilienceError = true;
        readonly policyName = 'elsewhere';
      }
      const foreign = new ForeignTimeoutError('from a second copy');
      expect(foreign).not.toBeInstanceOf(ResilienceError);
      expect(isResilienceError(foreign)).toBe(true);
    });
  });
});
