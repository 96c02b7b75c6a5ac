import type { CallContext } from '../../lib/common/call-context';

/** Records the unsubscribe functions that `context.onAbort` hands out. */
export function spyOnAbort(context: CallContext): jest.Mock[] {
  const unsubscribes: jest.Mock[] = [];
  const original = context.onAbort.bind(context);
  jest.spyOn(context, 'onAbort').mockImplementation((listener) => {
    const unsubscribe = jest.fn(original(listener));
    unsubscribes.push(unsubscribe);
    return unsubscribe;
  });
  return unsubscribes;
}
