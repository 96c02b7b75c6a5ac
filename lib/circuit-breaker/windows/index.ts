export * from './sliding-window';
export * from './count-window';
export * from './time-window';
