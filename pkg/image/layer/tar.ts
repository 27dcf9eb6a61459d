/**
 * tar parsing on top of tar-stream, with one fix: tar-stream decodes every PAX value as UTF-8, which
 * corrupts binary xattr values (file capabilities are binary). This subclass decodes PAX records itself and
 * keeps `SCHILY.xattr.*` values as latin1 strings (one char per byte); `paxXattrs` turns them into Buffers.
 * It overrides an internal method of tar-stream 3.2 (pinned in package.json); the binary-xattr unit test
 * fails if an upgrade changes that internal.
 */
import tarStream, { type Extract, type Header } from 'tar-stream';

/** A tar header as tar-stream produces it, with the PAX records its typings omit. */
export type TarHeader = Omit<Header, 'type' | 'pax'> & {
  /** null for type flags tar-stream does not know (GNU sparse, volume labels…). */
  type: Header['type'] | null;
  pax?: Record<string, string> | null;
};

/** One entry of the archive: its header and its content. */
export type TarEntry = AsyncIterable<Buffer> & { header: Header };

interface ExtractInternals {
  _header: { type: string | null } | null;
  _pax: Record<string, string> | null;
  _paxGlobal: Record<string, string> | null;
}

const XATTR_PREFIX = 'SCHILY.xattr.';
const LIBARCHIVE_XATTR_PREFIX = 'LIBARCHIVE.xattr.';

/** Decodes PAX extended header records (`<len> <key>=<value>\n`), binary-safe for xattr values. */
export function decodePax(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let rest = buf;
  while (rest.length > 0) {
    const space = rest.indexOf(0x20);
    if (space <= 0) break;
    const len = Number.parseInt(rest.subarray(0, space).toString('latin1'), 10);
    if (!Number.isInteger(len) || len <= space + 1 || len > rest.length) break;
    const record = rest.subarray(space + 1, len - 1);
    const eq = record.indexOf(0x3d);
    if (eq < 0) break;
    const key = record.subarray(0, eq).toString('utf8');
    const value = record.subarray(eq + 1);
    out[key] = value.toString(key.startsWith(XATTR_PREFIX) ? 'latin1' : 'utf8');
    rest = rest.subarray(len);
  }
  return out;
}

type ExtractCtor = new (opts?: { allowUnknownFormat?: boolean }) => Extract;
const BaseExtract = Object.getPrototypeOf(tarStream.extract()).constructor as ExtractCtor;

class BinaryPaxExtract extends BaseExtract {
  // Overrides tar-stream's Extract#_decodeLongHeader for PAX headers; GNU long names stay with the base.
  _decodeLongHeader(buf: Buffer): void {
    const self = this as unknown as ExtractInternals;
    const type = self._header?.type;
    if (type === 'pax-header') {
      const records = decodePax(buf);
      self._pax = self._paxGlobal === null ? records : { ...self._paxGlobal, ...records };
      return;
    }
    if (type === 'pax-global-header') {
      self._paxGlobal = decodePax(buf);
      return;
    }
    (BaseExtract.prototype as unknown as { _decodeLongHeader(b: Buffer): void })._decodeLongHeader.call(this, buf);
  }
}

/** A tar-stream extractor whose PAX xattr values survive byte for byte. */
export function createExtract(): Extract {
  return new BinaryPaxExtract({ allowUnknownFormat: true });
}

/** The xattrs a header carries (`SCHILY.xattr.*` raw, `LIBARCHIVE.xattr.*` base64), as name → bytes. */
export function paxXattrs(header: TarHeader): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const pax = header.pax;
  if (!pax) return out;
  for (const [key, value] of Object.entries(pax)) {
    if (key.startsWith(XATTR_PREFIX)) out.set(key.slice(XATTR_PREFIX.length), Buffer.from(value, 'latin1'));
    else if (key.startsWith(LIBARCHIVE_XATTR_PREFIX)) {
      const name = decodeURIComponent(key.slice(LIBARCHIVE_XATTR_PREFIX.length));
      out.set(name, Buffer.from(value, 'base64'));
    }
  }
  return out;
}

/** Numeric PAX overrides of the ustar fields (uid/gid beyond 8 octal digits, sub-second mtimes). */
export function paxNumber(header: TarHeader, key: 'uid' | 'gid' | 'mtime' | 'atime'): number | undefined {
  const v = header.pax?.[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}
