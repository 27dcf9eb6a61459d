/**
 * The provisioner's image stores: docker (registry or local directory) and appc, behind one index and one
 * layer store. `ImageStore` is both the CRI's `ImageManager` and the provisioner's `ImageSource`.
 */
export { APPC_PREFIX, formatAppcReference, parseAppcReference } from './appc-puller.js';
export { configuredCredentials } from './credentials.js';
export { ImageStore, type ImageStoreOptions } from './store.js';
export { StorePaths } from './paths.js';
