/** The CRI ImageService verbs (one file each) and ucri's pull-with-progress stream. */
export { imageFsInfo } from './image-fs-info.js';
export { imageStatus } from './image-status.js';
export { listImages } from './list-images.js';
export { pullWithProgress } from './pull-progress.js';
export { pullImage } from './pull-image.js';
export { removeImage } from './remove-image.js';
export { ImageServiceDefinition } from './responses.js';
export { streamImages } from './stream-images.js';
