/**
 * Builders of crafted layer tarballs for the layer tests: tar-stream's packer for ordinary entries, and a
 * raw ustar writer for what tar-stream cannot express (binary PAX values).
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';

export interface FixtureEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** PAX records; values are written as raw bytes (latin1), so binary xattrs survive. */
  pax?: Record<string, Buffer | string>;
}

/** A tar built with tar-stream (no PAX). */
export async function packTar(entries: FixtureEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const { content, pax: _pax, ...header } = e;
    await new Promise<void>((resolve, reject) => {
      pack.entry({ type: 'file', mode: 0o644, mtime: new Date(1_000_000_000_000), ...header }, content ?? '', (err) =>
        err ? reject(err) : resolve(),
      );
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const TYPEFLAG: Record<string, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
  pax: 'x',
};

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

function header(name: string, type: string, size: number, e: Partial<FixtureEntry>): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  b.write(octal(e.mode ?? 0o644, 8), 100, 'latin1');
  b.write(octal(e.uid ?? 0, 8), 108, 'latin1');
  b.write(octal(e.gid ?? 0, 8), 116, 'latin1');
  b.write(octal(size, 12), 124, 'latin1');
  b.write(octal(Math.floor((e.mtime?.getTime() ?? 1_000_000_000_000) / 1000), 12), 136, 'latin1');
  b.write('        ', 148, 'latin1');
  b.write(TYPEFLAG[type] ?? '0', 156, 'latin1');
  if (e.linkname) b.write(e.linkname, 157, 100, 'utf8');
  b.write('ustar\0', 257, 'latin1');
  b.write('00', 263, 'latin1');
  b.write(octal(e.devmajor ?? 0, 8), 329, 'latin1');
  b.write(octal(e.devminor ?? 0, 8), 337, 'latin1');
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

function padded(data: Buffer): Buffer {
  const pad = (512 - (data.length % 512)) % 512;
  return Buffer.concat([data, Buffer.alloc(pad)]);
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** A tar written byte by byte, with PAX headers whose values are raw bytes. */
export function rawTar(entries: FixtureEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'file';
    if (e.pax) {
      const records = Buffer.concat(
        Object.entries(e.pax).map(([k, v]) => paxRecord(k, typeof v === 'string' ? Buffer.from(v) : v)),
      );
      parts.push(header('PaxHeaders/x', 'pax', records.length, {}), padded(records));
    }
    const data = type === 'file' ? Buffer.from(e.content ?? '') : Buffer.alloc(0);
    parts.push(header(e.name, type, data.length, e), padded(data));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function gzip(data: Buffer): Buffer {
  return gzipSync(data);
}

export function zstd(data: Buffer): Buffer {
  return execFileSync('zstd', ['-q', '-c'], { input: data, maxBuffer: 1 << 30 });
}

/** Reads an xattr without following symlinks (python3, as the layer code uses to set them). */
export function getXattr(path: string, name: string): Buffer | undefined {
  const script =
    'import os,sys\ntry:\n  sys.stdout.buffer.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False))\nexcept OSError:\n  sys.exit(3)';
  try {
    return execFileSync('python3', ['-c', script, path, name]);
  } catch {
    return undefined;
  }
}

/** A fresh target dir `<base>/root` and a sibling `<base>/outside` holding one victim file, for escape tests. */
export async function escapeSandbox(base: string): Promise<{ root: string; outside: string }> {
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  await fs.mkdir(root, { recursive: true });
  await fs.mkdir(outside, { recursive: true });
  await fs.writeFile(path.join(outside, 'victim'), 'original');
  return { root, outside };
}
