/**
 * Stop signals as images write them (`SIGQUIT`, `QUIT`, `3`, `SIGRTMIN+3`), normalized to what the OCI
 * runtime accepts. An image's stop signal is untrusted input: anything unknown falls back to SIGTERM.
 */
import { constants } from 'node:os';
import { logger } from '../../util/index.js';

const log = logger('mesos/containerizer');

const BY_NUMBER = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n, name]));

/** `SIG<NAME>` for a known signal name or number, else `''` (meaning SIGTERM). */
export function normalizeStopSignal(raw: string, id: string): string {
  const s = raw.trim().toUpperCase();
  if (s === '') return '';
  let name: string | undefined;
  if (/^\d{1,2}$/.test(s)) name = BY_NUMBER.get(Number(s));
  else {
    const full = s.startsWith('SIG') ? s : `SIG${s}`;
    if (full in constants.signals) name = full;
    else if (/^SIGRTM(IN|AX)([+-]\d{1,2})?$/.test(full)) name = full;
  }
  if (name === undefined) {
    log.warn({ id, stopSignal: raw }, 'unknown image stop signal, using SIGTERM');
    return '';
  }
  return name;
}
