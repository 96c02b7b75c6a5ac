/**
 * Records the promise rejections that Node reports as unhandled while it runs.
 *
 * Inside a Jest test file `process` is a copy Jest made for the sandbox, and Node emits
 * 'unhandledRejection' only on the process that runs Jest. A function from the host realm
 * (the timer functions Jest hands through) evaluates code in the host's global scope,
 * which is how the real process is reached; the sandbox copy is listened to as well.
 */
export function recordUnhandledRejections(): { reasons: unknown[]; stop(): void } {
  const reasons: unknown[] = [];
  const listener = (reason: unknown) => {
    reasons.push(reason);
  };
  const targets = new Set<NodeJS.Process>([process, hostProcess()]);
  for (const target of targets) target.on('unhandledRejection', listener);
  return {
    reasons,
    stop: () => {
      for (const target of targets) target.off('unhandledRejection', listener);
    },
  };
}

function hostProcess(): NodeJS.Process {
  const HostFunction = (setTimeout as unknown as { constructor: FunctionConstructor }).constructor;
  const host = new HostFunction('return typeof process === "object" ? process : undefined')() as
    NodeJS.Process | undefined;
  return host && typeof host.on === 'function' ? host : process;
}
