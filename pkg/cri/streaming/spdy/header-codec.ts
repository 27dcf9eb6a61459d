/**
 * The header-block compression of one SPDY connection: one deflate (ours) and one inflate (the peer's)
 * stream, each living as long as the connection, with the SPDY/3 dictionary; every block ends with a
 * sync flush so the peer can decode it at once. Calls on one codec must not overlap (the connection
 * serialises them).
 */
import zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './dictionary.js';

class ZPipe {
  private out: Buffer[] = [];
  private error: Error | undefined;

  constructor(private readonly z: zlib.Inflate | zlib.Deflate) {
    z.on('data', (c: Buffer) => this.out.push(c));
    z.on('error', (err: Error) => {
      this.error = err;
    });
  }

  run(input: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.error) {
        reject(this.error);
        return;
      }
      this.z.write(input);
      this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        if (this.error) {
          reject(this.error);
          return;
        }
        const b = Buffer.concat(this.out);
        this.out = [];
        resolve(b);
      });
    });
  }

  close(): void {
    this.z.close();
  }
}

export class HeaderCodec {
  private readonly deflate = new ZPipe(zlib.createDeflate({ dictionary: SPDY3_DICTIONARY }));
  private readonly inflate = new ZPipe(zlib.createInflate({ dictionary: SPDY3_DICTIONARY }));

  /** Compresses one serialised header block. */
  compress(block: Buffer): Promise<Buffer> {
    return this.deflate.run(block);
  }

  /** Decompresses one header block received from the peer. */
  decompress(block: Buffer): Promise<Buffer> {
    return this.inflate.run(block);
  }

  close(): void {
    this.deflate.close();
    this.inflate.close();
  }
}
