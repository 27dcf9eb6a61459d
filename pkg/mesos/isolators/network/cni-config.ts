/**
 * Reading CNI network configurations (`.conf`, `.json` single-plugin files and `.conflist` lists) the way
 * kubelet users expect: files in lexical order, the first valid one is the default network. Each plugin's
 * binary must exist in one of the plugin directories. Pure reading: nothing here runs a plugin.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { findExecutable } from '../../../util/index.js';

const pluginSchema = z.looseObject({ type: z.string().min(1) });
const confSchema = z.looseObject({
  cniVersion: z.string().optional(),
  name: z.string().min(1),
  type: z.string().min(1),
});
const listSchema = z.looseObject({
  cniVersion: z.string().optional(),
  name: z.string().min(1),
  disableCheck: z.boolean().optional(),
  plugins: z.array(pluginSchema).min(1),
});

/** One usable network: its name, the file it came from, and its plugin list (a `.conf` is a list of one). */
export interface CniNetwork {
  name: string;
  file: string;
  cniVersion: string;
  /** The whole parsed list config, with `plugins` (a `.conf` file is wrapped into a list). */
  config: Record<string, unknown> & { plugins: Array<Record<string, unknown> & { type: string }> };
}

/** Result of scanning a config dir: the usable networks in order, and why other files were skipped. */
export interface CniScan {
  networks: CniNetwork[];
  problems: string[];
}

const EXTENSIONS = new Set(['.conf', '.conflist', '.json']);

/** Scans `configDir` for network configs whose plugins all exist in `pluginDirs`. */
export async function scanCniConfigs(configDir: string, pluginDirs: readonly string[]): Promise<CniScan> {
  const out: CniScan = { networks: [], problems: [] };
  let names: string[];
  try {
    names = (await fs.readdir(configDir)).filter((n) => EXTENSIONS.has(path.extname(n))).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    out.problems.push(code === 'ENOENT' ? `${configDir} does not exist` : `cannot read ${configDir}: ${code}`);
    return out;
  }
  if (names.length === 0) out.problems.push(`no network config found in ${configDir}`);
  for (const name of names) {
    const file = path.join(configDir, name);
    let raw: unknown;
    try {
      raw = JSON.parse(await fs.readFile(file, 'utf8'));
    } catch (err) {
      out.problems.push(`${file}: ${(err as Error).message}`);
      continue;
    }
    let config: CniNetwork['config'];
    if (name.endsWith('.conflist')) {
      const r = listSchema.safeParse(raw);
      if (!r.success) {
        out.problems.push(`${file}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
        continue;
      }
      config = r.data as CniNetwork['config'];
    } else {
      const r = confSchema.safeParse(raw);
      if (!r.success) {
        out.problems.push(`${file}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
        continue;
      }
      const { name: netName, cniVersion, ...plugin } = r.data;
      config = { cniVersion, name: netName, plugins: [{ ...plugin, type: r.data.type }] };
    }
    const missing: string[] = [];
    for (const p of config.plugins) if (!(await findExecutable(p.type, pluginDirs))) missing.push(p.type);
    if (missing.length > 0) {
      out.problems.push(`${file}: plugin(s) ${missing.join(', ')} not found in ${pluginDirs.join(':')}`);
      continue;
    }
    out.networks.push({ name: String(config.name), file, cniVersion: String(config.cniVersion ?? '0.4.0'), config });
  }
  return out;
}
