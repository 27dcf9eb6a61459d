export * from './containerizer.js';
