/**
 * Archive files (OCI archive, docker save archive) are plain tars of a directory-like tree. They are built with
 * the same `Layer` entry list as image layers, so they are reproducible too, and written to a temp file that is
 * renamed into place only when complete.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type FileContent, type Layer, packEntries } from './layer.js';

/** Content of a host file as a sized stream (the size is fixed now; the file must not change meanwhile). */
export async function hostFile(file: string): Promise<FileContent> {
  const st = await fs.stat(file);
  return { size: st.size, chunks: () => createReadStream(file) };
}

/** Writes the entries of `layer` as an uncompressed tar at `file`, atomically. */
export async function writeTarFile(file: string, layer: Layer, signal?: AbortSignal): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await pipeline(packEntries(layer.entries, signal), createWriteStream(tmp, { mode: 0o644 }), { signal });
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** Hard-links `src` to `dst` (same filesystem), copying when a link is impossible. */
export async function linkOrCopy(src: string, dst: string): Promise<void> {
  try {
    await fs.link(src, dst);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'EXDEV' && code !== 'EPERM') throw err;
    await fs.copyFile(src, dst);
  }
}
