/**
 * The npm packages the appc puller loads on first use, behind one ES module of ours. Imported dynamically
 * by the appc puller so an appc-less daemon never loads them; the static imports here are what
 * keeps their named exports in the bundled daemon (a dynamic import of a CommonJS package itself yields only
 * its default export there, see hack/bundle.ts).
 */
export { request } from 'undici';
export { extract, pack } from 'tar-stream';
