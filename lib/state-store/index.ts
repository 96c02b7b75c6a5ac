export type {
  CircuitLink,
  CircuitStateStore,
  CircuitStateStoreContext,
  SharedCircuit,
  SharedCircuitCounters,
  SharedCircuitState,
} from './circuit-state-store.interface';
export { FileCircuitStateStore } from './file-circuit-state-store';
export type { FileCircuitStateStoreOptions } from './file-circuit-state-store';
