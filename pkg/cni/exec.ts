/**
 * Running CNI plugins to the specification (https://www.cni.dev/docs/spec/): one plugin call with its
 * environment and stdin, and the list operations built from it — ADD runs the plugins in order passing each
 * one's result as the next one's `prevResult`, DEL runs them in reverse with the ADD result, CHECK runs them
 * in order (0.4.0 and later, unless the list disables it). Each plugin gets the list's `name` and
 * `cniVersion` and only the runtimeConfig entries it declares in `capabilities`.
 *
 * One plugin call is not made at all: `portmap` (containernetworking/plugins) for a pod without host ports,
 * where that plugin's ADD prints its prevResult back, its DEL and CHECK return at once (every release from
 * v0.8.7 on, Debian's 1.1.1 included), and the list's result is the same without it. isInertPortmap says
 * exactly when; docs/performance.md "Pod verbs, phase 8" has the reading of the plugin's source.
 */
import {
  addCost,
  errorMessage,
  FailedPreconditionError,
  findExecutable,
  InternalError,
  measure,
  secondsSince,
  UnavailableError,
} from '../util/index.js';
import { DEFAULT_PATH, run } from '../sys/index.js';
import type { CniNetwork } from './config.js';
import { compareVersions } from './result.js';

/** What identifies one attachment of a pod to a network (the CNI "runtime" parameters). */
export interface CniAttachment {
  /** CNI_CONTAINERID: the pod id. */
  containerId: string;
  /** CNI_NETNS; absent when the namespace is gone (allowed for DEL). */
  netns?: string;
  /** CNI_IFNAME, e.g. `eth0`. */
  ifname: string;
  /** CNI_ARGS as key/value pairs, in order. */
  args: Array<[string, string]>;
  /** Values for the capabilities plugins may declare (portMappings, bandwidth, ipRanges, dns). */
  capabilityArgs: Record<string, unknown>;
}

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

/** Default bound on one plugin call: plugins that hang (e.g. on an iptables lock) must not hang the pod. */
export const PLUGIN_TIMEOUT_MS = 60_000;

/** CNI error codes (spec "Error"): 11 asks the runtime to try again later. */
const TRY_AGAIN_LATER = 11;

/** Formats CNI_ARGS: `K=V;K=V`. Values with `;` or `=` would break the format and are refused. */
export function formatCniArgs(args: ReadonlyArray<[string, string]>): string {
  for (const [k, v] of args) {
    if (/[;=]/.test(k) || v.includes(';')) throw new InternalError(`cni arg "${k}" has a character ";" or "="`);
  }
  return args.map(([k, v]) => `${k}=${v}`).join(';');
}

/** The JSON a plugin of `net` reads on stdin for one call. */
export function pluginConfig(
  net: Pick<CniNetwork, 'name' | 'cniVersion'>,
  plugin: Record<string, unknown>,
  attachment: Pick<CniAttachment, 'capabilityArgs'>,
  prevResult: unknown,
): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: net.name };
  if (net.cniVersion !== '') conf.cniVersion = net.cniVersion;
  const caps = plugin.capabilities;
  const runtimeConfig: Record<string, unknown> = {};
  if (typeof caps === 'object' && caps !== null) {
    for (const [cap, on] of Object.entries(caps)) {
      const value = attachment.capabilityArgs[cap];
      if (on === true && value !== undefined) runtimeConfig[cap] = value;
    }
  }
  if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
  else delete conf.runtimeConfig;
  // Lists before 0.3.0 cannot chain; from 0.3.0 on the previous result travels with ADD, and from 0.4.0 on
  // with DEL and CHECK too.
  if (prevResult !== undefined && compareVersions(net.cniVersion || '0.1.0', '0.3.0') >= 0) {
    conf.prevResult = prevResult;
  } else delete conf.prevResult;
  return conf;
}

/** The message of a failed plugin: the CNI error object (code, msg, details) when it printed one. */
export function describePluginError(stdout: string, stderr: string): { message: string; code?: number } {
  const text = stdout.trim();
  if (text.startsWith('{')) {
    try {
      const e = JSON.parse(text) as { code?: unknown; msg?: unknown; details?: unknown };
      if (typeof e.msg === 'string' || typeof e.code === 'number') {
        const code = typeof e.code === 'number' ? e.code : undefined;
        const parts = [
          code !== undefined ? `code ${code}` : '',
          typeof e.msg === 'string' ? e.msg : '',
          typeof e.details === 'string' && e.details !== '' ? e.details : '',
        ].filter((p) => p !== '');
        return { message: parts.join(': '), ...(code !== undefined ? { code } : {}) };
      }
    } catch {
      // not the error object: fall through to the raw output
    }
  }
  const raw = (stderr.trim() || text).slice(-2048);
  return { message: raw || 'no output' };
}

export interface InvokeOptions {
  pluginDirs: readonly string[];
  signal?: AbortSignal;
  timeoutMs?: number;
}

/**
 * Runs plugin `type` once. Resolves with its parsed stdout for ADD/VERSION (undefined for DEL/CHECK).
 * FailedPreconditionError when the binary is missing; UnavailableError for the CNI "try again later" code;
 * InternalError naming the plugin, the command and the plugin's error otherwise.
 */
export async function invokePlugin(
  type: string,
  command: CniCommand,
  attachment: CniAttachment,
  config: Record<string, unknown>,
  opts: InvokeOptions,
): Promise<unknown> {
  const file = await findExecutable(type, opts.pluginDirs);
  if (!file) {
    throw new FailedPreconditionError(`cni plugin "${type}" not found in ${opts.pluginDirs.join(':')}`);
  }
  const env: NodeJS.ProcessEnv = {
    PATH: DEFAULT_PATH,
    CNI_COMMAND: command,
    CNI_CONTAINERID: attachment.containerId,
    CNI_IFNAME: attachment.ifname,
    CNI_PATH: opts.pluginDirs.join(':'),
    CNI_ARGS: formatCniArgs(attachment.args),
  };
  if (attachment.netns !== undefined) env.CNI_NETNS = attachment.netns;
  const started = process.hrtime.bigint();
  const r = await run(file, [], {
    env,
    stdin: JSON.stringify(config),
    signal: opts.signal,
    timeoutMs: opts.timeoutMs ?? PLUGIN_TIMEOUT_MS,
    allowFailure: true,
  }).catch((err: unknown) => {
    measure({ kind: 'cni', command, plugin: type, seconds: secondsSince(started), ok: false });
    throw err;
  });
  measure({ kind: 'cni', command, plugin: type, seconds: secondsSince(started), ok: r.code === 0 });
  if (r.code !== 0) {
    const { message, code } = describePluginError(r.stdout, r.stderr);
    const text = `cni plugin "${type}" ${command} of "${attachment.containerId}" failed: ${message}`;
    throw code === TRY_AGAIN_LATER ? new UnavailableError(text) : new InternalError(text);
  }
  if (command === 'DEL' || command === 'CHECK') return undefined;
  try {
    return JSON.parse(r.stdout) as unknown;
  } catch (err) {
    throw new InternalError(`cni plugin "${type}" ${command} printed no JSON result: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/** The cniVersions for which containernetworking/plugins' portmap (v0.8.7 to v1.9) chains and passes results. */
const PORTMAP_PASS_VERSIONS = new Set(['0.3.0', '0.3.1', '0.4.0', '1.0.0']);

/** What portmap's own config parser (its PortMapConf and the NetConf it embeds) accepts without failing. */
const PORTMAP_KEYS: Record<string, (v: unknown) => boolean> = {
  type: (v) => v === 'portmap',
  name: (v) => typeof v === 'string' && /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(v),
  cniVersion: (v) => typeof v === 'string' && PORTMAP_PASS_VERSIONS.has(v),
  capabilities: (v) => isObject(v) && Object.values(v).every((b) => typeof b === 'boolean'),
  runtimeConfig: (v) => isObject(v) && v.portMappings === undefined,
  prevResult: isObject,
  snat: (v) => typeof v === 'boolean',
  markMasqBit: (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 31,
  externalSetMarkChain: (v) => typeof v === 'string',
  conditionsV4: isStringList,
  conditionsV6: isStringList,
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringList(v: unknown): boolean {
  return v === null || (Array.isArray(v) && v.every((s) => typeof s === 'string'));
}

/**
 * True when `conf` (one plugin's stdin for `command`, as pluginConfig built it) is a `portmap` call that would
 * do nothing: no port mappings in its runtimeConfig, and a config its parser accepts (only the keys it knows,
 * of their types, markMasqBit in 0..31 and not with externalSetMarkChain, a cniVersion it supports and chains
 * in), with the prevResult ADD and CHECK require. For such a call portmap (every release from v0.8.7 on, read
 * at v1.1.1, Debian's, and v1.9.1) returns before any iptables or conntrack call: ADD prints its prevResult
 * in the same cniVersion, DEL and CHECK print nothing. (Before v0.8.7 its DEL still deleted the pod's own
 * DNAT chain, which an ADD without mappings never makes.) Anything else (mappings, an unknown key, a value of
 * another type) runs the plugin as before. A pure function of the checkpointed network config and
 * capability args, so ADD, DEL, CHECK and recovery decide alike.
 */
export function isInertPortmap(conf: Record<string, unknown>, command: CniCommand): boolean {
  if (conf.type !== 'portmap' || command === 'VERSION') return false;
  if (typeof conf.cniVersion !== 'string' || (command !== 'DEL' && conf.prevResult === undefined)) return false;
  if (conf.markMasqBit !== undefined && conf.externalSetMarkChain !== undefined) return false;
  return Object.entries(conf).every(([k, v]) => Object.hasOwn(PORTMAP_KEYS, k) && PORTMAP_KEYS[k]!(v));
}

/**
 * Runs one plugin of a list unless it is an inert portmap call (isInertPortmap); then resolves with what the
 * plugin would have printed (`prevResult` for ADD). Its binary must exist either way, so a missing plugin
 * fails the same.
 */
async function invokeListPlugin(
  command: 'ADD' | 'DEL' | 'CHECK',
  attachment: CniAttachment,
  conf: Record<string, unknown>,
  opts: InvokeOptions,
): Promise<unknown> {
  const type = conf.type as string;
  if (!isInertPortmap(conf, command)) return invokePlugin(type, command, attachment, conf, opts);
  if (!(await findExecutable(type, opts.pluginDirs))) {
    throw new FailedPreconditionError(`cni plugin "${type}" not found in ${opts.pluginDirs.join(':')}`);
  }
  addCost(`cni ${command} ${type} skipped`, 0);
  return command === 'ADD' ? conf.prevResult : undefined;
}

/** ADD of a whole list: plugins in order, each result chained into the next; resolves with the last result. */
export async function addNetworkList(
  net: CniNetwork,
  attachment: CniAttachment,
  opts: InvokeOptions,
): Promise<unknown> {
  let prev: unknown;
  for (const plugin of net.config.plugins) {
    const conf = pluginConfig(net, plugin, attachment, prev);
    prev = await invokeListPlugin('ADD', attachment, conf, opts);
  }
  return prev;
}

/** DEL of a whole list in reverse order, with the ADD result when there is one. Stops at the first failure. */
export async function delNetworkList(
  net: CniNetwork,
  attachment: CniAttachment,
  prevResult: unknown,
  opts: InvokeOptions,
): Promise<void> {
  const withPrev = compareVersions(net.cniVersion || '0.1.0', '0.4.0') >= 0 ? prevResult : undefined;
  for (const plugin of [...net.config.plugins].reverse()) {
    const conf = pluginConfig(net, plugin, attachment, withPrev);
    await invokeListPlugin('DEL', attachment, conf, opts);
  }
}

/** True when CHECK applies to `net`: version 0.4.0 or later and `disableCheck` not set. */
export function checkSupported(net: CniNetwork): boolean {
  return compareVersions(net.cniVersion || '0.1.0', '0.4.0') >= 0 && net.config.disableCheck !== true;
}

/** CHECK of a whole list in order with the ADD result; a no-op where CHECK does not apply. */
export async function checkNetworkList(
  net: CniNetwork,
  attachment: CniAttachment,
  prevResult: unknown,
  opts: InvokeOptions,
): Promise<void> {
  if (!checkSupported(net)) return;
  for (const plugin of net.config.plugins) {
    const conf = pluginConfig(net, plugin, attachment, prevResult);
    await invokeListPlugin('CHECK', attachment, conf, opts);
  }
}
