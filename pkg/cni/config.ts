/**
 * Reading CNI network configurations (`.conf`, `.json` single-plugin files and `.conflist` lists) the way
 * kubelet users expect: files in lexical order, the first valid one is the default network. Each plugin's
 * binary must exist in one of the plugin directories. Pure reading: nothing here runs a plugin. A scan is a
 * handful of small reads, so callers re-scan on each use instead of watching the directory: a config that
 * appears, breaks or is fixed takes effect at the next pod or Status call without a restart.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as z from 'zod/mini';
import { findExecutable } from '../util/index.js';

const versionSchema = z.optional(z.string().check(z.regex(/^\d+\.\d+\.\d+$/, 'cniVersion must look like 1.0.0')));
// A plugin type names a binary in the plugin dirs: no path separators, no dot-dot tricks.
const typeSchema = z.string().check(z.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'plugin type must be a plain file name'));
const pluginSchema = z.looseObject({ type: typeSchema });
const confSchema = z.looseObject({
  cniVersion: versionSchema,
  name: z.string().check(z.minLength(1)),
  type: typeSchema,
});
const listSchema = z.looseObject({
  cniVersion: versionSchema,
  name: z.string().check(z.minLength(1)),
  disableCheck: z.optional(z.boolean()),
  plugins: z.array(pluginSchema).check(z.minLength(1)),
});

/** One usable network: its name, the file it came from, and its plugin list (a `.conf` is a list of one). */
export interface CniNetwork {
  name: string;
  file: string;
  /** The config's cniVersion; empty when the file has none (plugins then treat it as 0.1.0). */
  cniVersion: string;
  /** The whole parsed list config, with `plugins` (a `.conf` file is wrapped into a list). */
  config: Record<string, unknown> & { plugins: Array<Record<string, unknown> & { type: string }> };
}

/** Why no network is usable: no config file at all, only invalid ones, or plugins that are not installed. */
export type CniScanReason = 'NoCNIConfig' | 'InvalidCNIConfig' | 'CNIPluginMissing';

/** Result of scanning a config dir: the usable networks in order, and why other files were skipped. */
export interface CniScan {
  networks: CniNetwork[];
  problems: string[];
  /** Set when `networks` is empty. */
  reason?: CniScanReason;
}

const EXTENSIONS = new Set(['.conf', '.conflist', '.json']);

/** Scans `configDir` for network configs whose plugins all exist in `pluginDirs`. */
export async function scanCniConfigs(configDir: string, pluginDirs: readonly string[]): Promise<CniScan> {
  const out: CniScan = { networks: [], problems: [] };
  let invalid = 0;
  let missingPlugins = 0;
  const finish = (): CniScan => {
    if (out.networks.length === 0) {
      out.reason = missingPlugins > 0 ? 'CNIPluginMissing' : invalid > 0 ? 'InvalidCNIConfig' : 'NoCNIConfig';
    }
    return out;
  };
  let names: string[];
  try {
    names = (await fs.readdir(configDir)).filter((n) => EXTENSIONS.has(path.extname(n))).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    out.problems.push(code === 'ENOENT' ? `${configDir} does not exist` : `cannot read ${configDir}: ${code}`);
    return finish();
  }
  if (names.length === 0) out.problems.push(`no network config found in ${configDir}`);
  for (const name of names) {
    const file = path.join(configDir, name);
    let raw: unknown;
    try {
      raw = JSON.parse(await fs.readFile(file, 'utf8'));
    } catch (err) {
      out.problems.push(`${file}: ${(err as Error).message}`);
      invalid++;
      continue;
    }
    let config: CniNetwork['config'];
    if (name.endsWith('.conflist')) {
      const r = listSchema.safeParse(raw);
      if (!r.success) {
        out.problems.push(`${file}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
        invalid++;
        continue;
      }
      config = r.data as CniNetwork['config'];
    } else {
      const r = confSchema.safeParse(raw);
      if (!r.success) {
        out.problems.push(`${file}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
        invalid++;
        continue;
      }
      const { name: netName, cniVersion, ...plugin } = r.data;
      config = { ...(cniVersion ? { cniVersion } : {}), name: netName, plugins: [{ ...plugin, type: r.data.type }] };
    }
    const missing: string[] = [];
    for (const p of config.plugins) if (!(await findExecutable(p.type, pluginDirs))) missing.push(p.type);
    if (missing.length > 0) {
      out.problems.push(`${file}: plugin(s) ${missing.join(', ')} not found in ${pluginDirs.join(':')}`);
      missingPlugins++;
      continue;
    }
    out.networks.push({ name: String(config.name), file, cniVersion: String(config.cniVersion ?? ''), config });
  }
  return finish();
}

/** The default network: the first usable one in lexical order, or undefined (see `scan.reason`). */
export async function defaultCniNetwork(
  configDir: string,
  pluginDirs: readonly string[],
): Promise<{ network: CniNetwork | undefined; scan: CniScan }> {
  const scan = await scanCniConfigs(configDir, pluginDirs);
  return { network: scan.networks[0], scan };
}
