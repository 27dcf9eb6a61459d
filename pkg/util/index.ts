// For its effect: zod's English messages (see zod-messages.ts).
import './zod-messages.js';
export * from './checkpoint.js';
export * from './errors.js';
export * from './keyed-lock.js';
export * from './log.js';
export * from './which.js';
export * from './instance-lock.js';
export * from './rollback.js';
export * from './abort.js';
export * from './time.js';
export * from './id.js';
export * from './profile.js';
export * from './crash-point.js';
export * from './measure.js';
export * from './quantity.js';
export * from './settle.js';
export * from './lru.js';
export * from './dirs.js';
