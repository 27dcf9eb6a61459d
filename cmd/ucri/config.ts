/**
 * ucri's configuration: one typed object, validated with zod, read from a TOML file (default
 * /etc/ucri/config.toml, optional) and overridden by command-line flags. Flag and key names follow the Mesos
 * agent where Mesos has one (`--work_dir`, `--isolation`, …); `--work-dir` is accepted as a spelling too.
 *
 * The file uses the same names as the flags (snake_case keys) plus tables that have no flag form:
 *
 *   work_dir = "/var/lib/ucri"
 *   isolation = "filesystem/linux,docker/runtime"
 *   [registry.mirrors."registry.k8s.io"]
 *   endpoints = ["http://127.0.0.1:5000"]
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import * as z from 'zod/mini';
import { ISOLATOR_NAMES } from '../../pkg/mesos/index.js';
import { parseByteQuantity } from '../../pkg/util/index.js';

export const DEFAULT_CONFIG_FILE = '/etc/ucri/config.toml';

const csv = z.pipe(
  z.union([z.string(), z.array(z.string())]),
  z.transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()).filter((s) => s.length > 0)),
);
const absPath = z.string().check(z.refine((p) => p.startsWith('/'), 'must be an absolute path'));
const pathList = z
  .string()
  .check(z.refine((p) => p.split(':').every((e) => e.startsWith('/')), 'must be absolute paths joined by ":"'));

/** A Go-style duration as containerd writes them ("5m", "1m30s", "500ms", "0"), or a number of seconds; in ms. */
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const duration = z.pipe(
  z.union([z.number().check(z.gte(0)), z.string()]),
  z.transform((v, ctx) => {
    if (typeof v === 'number') return Math.round(v * 1000);
    const s = v.trim();
    if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
    if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(s)) {
      ctx.issues.push({
        code: 'custom',
        message: `invalid duration "${v}" (e.g. "5m", "90s", "0" to turn off)`,
        input: v,
      });
      return z.NEVER;
    }
    let ms = 0;
    for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    return Math.round(ms);
  }),
);
/** A byte size as Kubernetes quantities write it ("10Gi", "500M", "1048576") or a number of bytes. */
const byteSize = z.pipe(
  z.union([z.number().check(z.int(), z.gte(0)), z.string()]),
  z.transform((v, ctx) => {
    if (typeof v === 'number') return v;
    const bytes = parseByteQuantity(v);
    if (bytes === undefined) {
      ctx.issues.push({ code: 'custom', message: `invalid size "${v}" (e.g. "10Gi", "500M", "0" for none)`, input: v });
      return z.NEVER;
    }
    return bytes;
  }),
);
/** A duration that must be longer than zero (stream timeouts). */
const positiveDuration = duration.check(z.refine((ms) => ms > 0, 'must be longer than 0'));

const registryHost = z.strictObject({ endpoints: z.array(z.string().check(z.url())).check(z.minLength(1)) });
const registryAuth = z.strictObject({
  username: z.optional(z.string()),
  password: z.optional(z.string()),
  auth: z.optional(z.string()),
  identitytoken: z.optional(z.string()),
});

/** The whole configuration schema: defaults, types and constraints live here and nowhere else. */
export const configSchema = z
  .strictObject({
    socket: z._default(absPath, '/run/ucri/ucri.sock'),
    work_dir: z._default(absPath, '/var/lib/ucri'),
    runtime_dir: z._default(absPath, '/run/ucri'),
    /** Containers' writable layers; default `<work_dir>/provisioner/containers` (resolved by the daemon). */
    container_store_dir: z.optional(absPath),
    container_disk_watch_interval: z._default(positiveDuration, 15_000),
    /** Bytes; 0: no default limit. */
    container_disk_limit: z._default(byteSize, 0),
    containerizers: z.pipe(
      z._default(csv, ['mesos']),
      z.array(z.enum(['mesos', 'docker'])).check(z.minLength(1, 'at least one containerizer is needed')),
    ),
    /** Default: every isolator of the Mesos table, in table order (network/cni last). */
    isolation: z._default(csv, [...ISOLATOR_NAMES]),
    launcher: z._default(z.enum(['auto', 'linux', 'posix']), 'auto'),
    image_providers: z.pipe(z._default(csv, ['docker', 'appc']), z.array(z.enum(['docker', 'appc']))),
    image_provisioner_backend: z
      ._default(z.enum(['overlay', 'copy', 'bind', 'auto', 'aufs']), 'overlay')
      .check(z.refine((b) => b !== 'aufs', 'aufs is not available in modern kernels; use overlay, copy, bind or auto')),
    docker_registry: z._default(z.string(), 'https://registry-1.docker.io'),
    docker_store_dir: z.optional(absPath),
    docker_config: z.optional(absPath),
    image_pull_progress_timeout: z._default(duration, 300_000),
    appc_simple_discovery_uri_prefix: z._default(z.string(), 'http://'),
    appc_store_dir: z.optional(absPath),
    network_cni_config_dir: z._default(absPath, '/etc/cni/net.d'),
    network_cni_plugins_dir: z._default(pathList, '/usr/lib/cni:/opt/cni/bin'),
    install_default_network: z._default(z.boolean(), false),
    docker_socket: z._default(absPath, '/var/run/docker.sock'),
    cgroups_root: z._default(
      z.string().check(z.regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'must be a relative cgroup path')),
      'ucri',
    ),
    cgroups_hierarchy: z._default(absPath, '/sys/fs/cgroup'),
    cgroup_driver: z._default(z.enum(['auto', 'cgroupfs', 'systemd']), 'auto'),
    oci_runtime: z._default(z.enum(['auto', 'runc', 'crun']), 'auto'),
    oci_runtime_path: z.optional(absPath),
    conmon_path: z.optional(absPath),
    container_monitor: z._default(z.enum(['ucri', 'conmon']), 'ucri'),
    pause_image: z._default(z.string(), 'registry.k8s.io/pause:3.9'),
    streaming_address: z._default(z.string(), '127.0.0.1'),
    streaming_port: z._default(z.coerce.number().check(z.int(), z.gte(0), z.lte(65535)), 0),
    streaming_tls_cert: z.optional(absPath),
    streaming_tls_key: z.optional(absPath),
    stream_idle_timeout: z._default(positiveDuration, 4 * 3_600_000),
    stream_creation_timeout: z._default(positiveDuration, 30_000),
    metrics_address: z._default(
      z.union([
        z
          .string()
          .check(z.regex(/^(\[[0-9a-fA-F:.]+\]|[^:]*):\d{1,5}$/, 'must be host:port, [v6]:port or :port (empty: off)')),
        z.literal(''),
      ]),
      '',
    ),
    log_level: z._default(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info'),
    trace: z._default(z.string(), ''),
    registry: z._default(
      z.strictObject({
        mirrors: z._default(z.record(z.string(), registryHost), {}),
        insecure: z._default(z.array(z.string()), []),
        auths: z._default(z.record(z.string(), registryAuth), {}),
      }),
      { mirrors: {}, insecure: [], auths: {} },
    ),
  })
  .check(
    z.refine((c) => (c.streaming_tls_cert === undefined) === (c.streaming_tls_key === undefined), {
      message: 'streaming_tls_cert and streaming_tls_key go together',
      path: ['streaming_tls_cert'],
    }),
  );

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** One flag of `ucri serve`: its config key, whether it takes a value, and its help line. */
interface FlagInfo {
  key: keyof ConfigInput | 'config' | 'help';
  help: string;
  boolean?: boolean;
}

/** The flags of `ucri serve`, in the order `--help` lists them. */
export const SERVE_FLAGS: readonly FlagInfo[] = [
  { key: 'config', help: `TOML configuration file (default ${DEFAULT_CONFIG_FILE}, optional)` },
  { key: 'socket', help: 'unix socket to serve the CRI on (default /run/ucri/ucri.sock)' },
  { key: 'work_dir', help: 'persistent state: image store, records (default /var/lib/ucri)' },
  { key: 'runtime_dir', help: 'runtime state, lost on reboot: namespace pins, exit files (default /run/ucri)' },
  {
    key: 'container_store_dir',
    help: "containers' writable layers, apart from image layers (default <work_dir>/provisioner/containers)",
  },
  {
    key: 'container_disk_watch_interval',
    help: "how often disk/du measures containers' writable layers, e.g. 15s (default 15s)",
  },
  {
    key: 'container_disk_limit',
    help: 'default writable-layer limit per container, e.g. 10Gi; 0: none (pod annotation io.ucri.disk-limit)',
  },
  { key: 'containerizers', help: 'comma-separated containerizers: mesos, docker (default mesos)' },
  { key: 'isolation', help: 'comma-separated isolators of the Mesos containerizer, in order' },
  { key: 'launcher', help: 'auto, linux (OCI runtime + conmon) or posix (default auto)' },
  { key: 'image_providers', help: 'comma-separated image providers: docker, appc (default docker,appc)' },
  { key: 'image_provisioner_backend', help: 'rootfs backend: overlay, copy, bind or auto (default overlay)' },
  { key: 'docker_registry', help: 'default registry URL, or a local directory of `docker save` tarballs' },
  { key: 'docker_store_dir', help: 'docker image store (default <work_dir>/store/docker)' },
  { key: 'docker_config', help: 'docker config.json with registry credentials' },
  {
    key: 'image_pull_progress_timeout',
    help: 'cancel a pull that downloads or extracts nothing for this long, e.g. 5m, 90s; 0: never (default 5m)',
  },
  { key: 'appc_simple_discovery_uri_prefix', help: 'appc simple discovery prefix (default http://)' },
  { key: 'appc_store_dir', help: 'appc image store (default <work_dir>/store/appc)' },
  { key: 'network_cni_config_dir', help: 'CNI network configurations (default /etc/cni/net.d)' },
  { key: 'network_cni_plugins_dir', help: 'CNI plugin directories joined by ":" (default /usr/lib/cni:/opt/cni/bin)' },
  {
    key: 'install_default_network',
    help: 'write a bridge + portmap network to the CNI config dir when it has no usable one',
    boolean: true,
  },
  { key: 'docker_socket', help: 'dockerd socket for the docker containerizer (default /var/run/docker.sock)' },
  { key: 'cgroups_root', help: 'cgroup under which pods without a cgroup parent live (default ucri)' },
  { key: 'cgroups_hierarchy', help: 'cgroup filesystem mount point (default /sys/fs/cgroup)' },
  { key: 'cgroup_driver', help: 'auto, cgroupfs or systemd (default auto: detected from the host)' },
  { key: 'oci_runtime', help: 'OCI runtime: auto, runc or crun (default auto: crun when installed, else runc)' },
  { key: 'oci_runtime_path', help: 'path of the OCI runtime binary (default: looked up in PATH)' },
  { key: 'conmon_path', help: 'path of conmon (default: looked up in PATH)' },
  {
    key: 'container_monitor',
    help: "ucri (its own static monitor, conmon's protocol) or conmon; restores always use conmon (default ucri)",
  },
  { key: 'pause_image', help: 'infra image for pods that share a PID namespace' },
  { key: 'streaming_address', help: 'address of the exec/attach/port-forward server (default 127.0.0.1)' },
  { key: 'streaming_port', help: 'port of the streaming server (default 0: any free port)' },
  { key: 'streaming_tls_cert', help: 'PEM certificate: serve the streaming server over HTTPS (with the key)' },
  { key: 'streaming_tls_key', help: 'PEM private key of streaming_tls_cert' },
  { key: 'stream_idle_timeout', help: 'close a streaming session idle this long (default 4h)' },
  { key: 'stream_creation_timeout', help: 'time a client has to create its streams (default 30s)' },
  { key: 'metrics_address', help: "serve the daemon's Prometheus metrics on host:port at /metrics (default off)" },
  { key: 'log_level', help: 'fatal, error, warn, info, debug, trace or silent (default info)' },
  { key: 'trace', help: 'comma-separated components to trace at debug level, e.g. cri,mesos/* (or UCRI_TRACE)' },
  { key: 'help', help: 'print this help', boolean: true },
];

/** Thrown for a bad command line or configuration; the CLI prints it and exits 2. */
export class ConfigError extends Error {}

const flagByName = new Map<string, FlagInfo>(SERVE_FLAGS.map((f) => [f.key, f]));

/** Splits `--name=value` / `--name value` flags; underscores and dashes are the same in names. */
export function parseFlags(argv: readonly string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf('=');
    const name = (eq < 0 ? arg.slice(2) : arg.slice(2, eq)).replaceAll('-', '_');
    const flag = flagByName.get(name);
    if (!flag) throw new ConfigError(`unknown flag "--${name}" (see ucri serve --help)`);
    if (flag.boolean) {
      if (eq >= 0) throw new ConfigError(`flag "--${name}" takes no value`);
      out[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new ConfigError(`flag "--${name}" needs a value`);
      i++;
    }
    if (name in out) throw new ConfigError(`flag "--${name}" given twice`);
    out[name] = value;
  }
  return out;
}

/** Formats zod issues as `key: message` lines naming the offending key. */
function describe(err: z.core.$ZodError): string {
  return err.issues
    .map((i) => {
      const key = i.path.join('.') || '(root)';
      if (i.code === 'unrecognized_keys')
        return `${key === '(root)' ? '' : `${key}: `}unknown key(s) ${i.keys.map((k) => `"${k}"`).join(', ')}`;
      return `${key}: ${i.message}`;
    })
    .join('; ');
}

/**
 * Loads the effective configuration: defaults ← TOML file ← flags. `configFile` is the explicit `--config`
 * value; without it the default file is read only if it exists.
 */
export function loadConfig(flags: Record<string, string | true>, env: NodeJS.ProcessEnv = process.env): Config {
  const { config: explicit, help: _help, ...rest } = flags;
  let fromFile: Record<string, unknown> = {};
  const file = typeof explicit === 'string' ? explicit : DEFAULT_CONFIG_FILE;
  if (typeof explicit === 'string' || existsSync(file)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file "${file}": ${(err as Error).message}`);
    }
    try {
      fromFile = parseToml(text) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`config file "${file}" is not valid TOML: ${(err as Error).message}`);
    }
  }
  const merged: Record<string, unknown> = { ...fromFile, ...rest };
  if (merged.trace === undefined && env.UCRI_TRACE) merged.trace = env.UCRI_TRACE;
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const where = typeof explicit === 'string' || existsSync(file) ? ` (file "${file}" and flags)` : '';
    throw new ConfigError(`invalid configuration${where}: ${describe(result.error)}`);
  }
  return result.data;
}

/** The `ucri serve --help` text. */
export function serveHelp(): string {
  const width = Math.max(...SERVE_FLAGS.map((f) => f.key.length)) + 4;
  const lines = SERVE_FLAGS.map((f) => `  --${f.key.padEnd(width)}${f.help}`);
  return [
    'usage: ucri serve [flags]',
    '',
    'Serves the Kubernetes CRI (runtime.v1) on a unix socket. Flags override the TOML file;',
    'dashes and underscores are interchangeable in flag names.',
    '',
    ...lines,
    '',
  ].join('\n');
}
