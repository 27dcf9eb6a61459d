export * from './composing.js';
export * from './images.js';
export * from './pods.js';
export * from './types.js';
export * from './unified.js';
