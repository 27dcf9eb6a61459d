export * from './checkpoint.js';
export * from './errors.js';
export * from './keyed-lock.js';
export * from './log.js';
export * from './which.js';
export * from './instance-lock.js';
export * from './measure.js';
