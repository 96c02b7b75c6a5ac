/** Metadata key holding the list of policy specs of a decorated method. @internal */
export const POLICIES_METADATA = 'nestjs-fault-tolerance:policies';
/** Per-instance table of wrapped methods, installed by the explorer. @internal */
export const WRAPPED_METHODS = Symbol.for('nestjs-fault-tolerance:wrapped-methods');
/** The undecorated method behind a trampoline. @internal */
export const ORIGINAL_METHOD = Symbol.for('nestjs-fault-tolerance:original-method');
/** Injection token of the validated, defaulted module options. @internal */
export const RESOLVED_OPTIONS = Symbol.for('nestjs-fault-tolerance:resolved-options');
