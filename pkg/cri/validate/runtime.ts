/**
 * zod schemas of RuntimeService requests: what each must satisfy beyond its protobuf type. A failure becomes
 * INVALID_ARGUMENT naming the field. Messages arrive as ts-proto objects (camelCase, defaults filled in).
 */
import { z } from 'zod';
import { unifiedSettingProblem } from '../../containerizer/index.js';

/** An IPv4 or IPv6 CIDR such as 10.88.0.0/16 or fd00::/64. */
const cidr = z.string().refine((s) => {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return false;
  const bits = Number(m[2]);
  return z.ipv4().safeParse(m[1]).success ? bits <= 32 : z.ipv6().safeParse(m[1]).success && bits <= 128;
}, 'must be an IPv4 or IPv6 CIDR');

const podCidr = z
  .string()
  .refine(
    (s) => s === '' || s.split(',').every((p) => cidr.safeParse(p.trim()).success),
    'must be CIDRs joined by ","',
  );

// ---- Pods and containers --------------------------------------------------------------------------------

/**
 * A name kubelet sends (pod, namespace, container). Kubernetes guarantees DNS-1123 names, but test suites
 * (critest) use mixed case, so accept the DNS characters in either case; `_` is refused because it separates
 * the parts of the reserved names (`<name>_<namespace>_<uid>_<attempt>`), `/` and NUL because names end up
 * in paths and log file names.
 */
const criName = z
  .string()
  .min(1, 'must not be empty')
  .max(253, 'must be at most 253 characters')
  .regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, 'must consist of letters, digits, "-" and "." (DNS name)');

/** A pod uid: kubelet sends a UUID; anything without path or separator characters is accepted. */
const uid = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^[A-Za-z0-9.-]+$/, 'must consist of letters, digits, "-" and "."');

const absPath = z
  .string()
  .refine((s) => s.startsWith('/'), 'must be an absolute path')
  .refine((s) => !s.includes('\0'), 'must not contain NUL');
const optAbsPath = z
  .string()
  .refine((s) => s === '' || (s.startsWith('/') && !s.includes('\0')), 'must be an absolute path');
const id = z
  .string()
  .min(1, 'must not be empty')
  .max(64, 'must be at most 64 characters')
  .regex(/^[0-9a-f]*$/, 'must be a hex id (or a prefix of one)');
const nonNegative = z.bigint().refine((v) => v >= 0n, 'must not be negative');
const ip = z
  .string()
  .refine((s) => z.ipv4().safeParse(s).success || z.ipv6().safeParse(s).success, 'must be an IP address');
const port = z.number().int().min(0, 'must be a port number').max(65535, 'must be a port number');

/** CRI NamespaceMode values: POD 0, CONTAINER 1, NODE 2, TARGET 3. */
const mode = (allowed: number[], names: string) =>
  z.number().refine((m) => allowed.includes(m), `must be one of ${names}`);

const labels = z
  .record(z.string(), z.string())
  .refine((m) => Object.keys(m).every((k) => k.length > 0 && k.length <= 317), 'keys must be 1 to 317 characters');

const resources = z
  .object({
    cpuPeriod: nonNegative,
    cpuShares: nonNegative,
    memoryLimitInBytes: nonNegative,
    memorySwapLimitInBytes: z.bigint().refine((v) => v >= -1n, 'must be -1 (unlimited) or more'),
    cpuQuota: z.bigint().refine((v) => v >= -1n, 'must be -1 (unlimited) or more'),
    oomScoreAdj: z.bigint().refine((v) => v >= -1000n && v <= 1000n, 'must be between -1000 and 1000'),
    cpusetCpus: z.string().regex(/^[0-9,\- ]*$/, 'must be a cpu list such as 0-3,5'),
    cpusetMems: z.string().regex(/^[0-9,\- ]*$/, 'must be a node list such as 0-1'),
    unified: z.record(z.string(), z.string()).superRefine((m, ctx) => {
      for (const [k, v] of Object.entries(m)) {
        const problem = unifiedSettingProblem(k, v);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, path: [k] });
      }
    }),
  })
  .optional();

/**
 * The deprecated `seccomp_profile_path`: empty, a named profile, or `localhost/` and an absolute path. A bare
 * path is refused (the validation suite expects it): it would otherwise run the container unconfined.
 */
const seccompProfilePath = z
  .string()
  .refine(
    (s) =>
      ['', 'runtime/default', 'docker/default', 'unconfined'].includes(s) ||
      (s.startsWith('localhost//') && !s.includes('\0')),
    'must be runtime/default, docker/default, unconfined or localhost/<absolute path>',
  )
  .optional();

const podMetadata = z.object(
  { name: criName, namespace: criName, uid, attempt: z.number().int().min(0) },
  { error: 'is required' },
);

const podSandboxConfig = z.object(
  {
    metadata: podMetadata,
    hostname: z
      .string()
      .max(64, 'must be at most 64 characters')
      .regex(/^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)?$/, 'must be a host name'),
    logDirectory: optAbsPath,
    dnsConfig: z.object({ servers: z.array(ip) }).optional(),
    portMappings: z.array(
      z.object({
        containerPort: port,
        hostPort: port,
        hostIp: z.string().refine((s) => s === '' || ip.safeParse(s).success, 'must be an IP address'),
      }),
    ),
    labels,
    annotations: z.record(z.string(), z.string()),
    linux: z
      .object({
        cgroupParent: z
          .string()
          .refine(
            (s) => s === '' || s.startsWith('/') || s.endsWith('.slice'),
            'must be an absolute cgroup path or a systemd slice',
          )
          .refine((s) => !s.split('/').includes('..'), 'must not contain ".."'),
        securityContext: z
          .looseObject({
            seccompProfilePath,
            namespaceOptions: z
              .object({
                network: mode([0, 2], 'POD, NODE'),
                pid: mode([0, 1, 2], 'POD, CONTAINER, NODE'),
                ipc: mode([0, 2], 'POD, NODE'),
              })
              .optional(),
          })
          .refine(runAsGroupNeedsUser, { message: 'needs run_as_user or run_as_username', path: ['runAsGroup'] })
          .optional(),
        resources,
        overhead: resources,
      })
      .optional(),
  },
  { error: 'is required' },
);

/**
 * A group without a user is refused, as the CRI asks: the runtime cannot know whose primary group to replace.
 * Checked on the loose object because the schemas above list only the fields they constrain.
 */
function runAsGroupNeedsUser(ctx: object): boolean {
  const c = ctx as { runAsGroup?: unknown; runAsUser?: unknown; runAsUsername?: unknown };
  if (c.runAsGroup === undefined || c.runAsGroup === null) return true;
  return (
    (c.runAsUser !== undefined && c.runAsUser !== null) ||
    (typeof c.runAsUsername === 'string' && c.runAsUsername !== '')
  );
}

const relativeLogPath = z
  .string()
  .refine((s) => !s.startsWith('/'), 'must be relative to the pod log directory')
  .refine((s) => !s.split('/').includes('..'), 'must not contain ".."');

const imageSubPath = z
  .string()
  .refine((s) => !s.startsWith('/'), 'must be relative to the image root')
  .refine((s) => !s.includes('\0'), 'must not contain NUL')
  .refine((s) => !s.split('/').includes('..'), 'must not contain ".."');

const containerConfig = z.object(
  {
    metadata: z.object({ name: criName, attempt: z.number().int().min(0) }, { error: 'is required' }),
    image: z.object({ image: z.string().min(1, 'must not be empty') }, { error: 'is required' }),
    workingDir: optAbsPath,
    envs: z.array(
      z.object({
        key: z
          .string()
          .min(1, 'must not be empty')
          .refine((k) => !k.includes('=') && !k.includes('\0'), 'must not contain "=" or NUL'),
      }),
    ),
    mounts: z.array(
      z
        .object({
          containerPath: absPath,
          hostPath: z.string(),
          image: z.object({ image: z.string() }).nullish(),
          imageSubPath: imageSubPath,
          propagation: mode([0, 1, 2], 'PROPAGATION_PRIVATE, PROPAGATION_HOST_TO_CONTAINER, PROPAGATION_BIDIRECTIONAL'),
        })
        .superRefine((m, ctx) => {
          const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
          if (!m.image?.image) {
            // A host path mount.
            if (!m.hostPath.startsWith('/') || m.hostPath.includes('\0')) issue('hostPath', 'must be an absolute path');
            if (m.imageSubPath !== '') issue('imageSubPath', 'is only allowed with image');
            return;
          }
          // An image volume (KEP-4639): read-only, private, no host path.
          if (m.hostPath !== '') issue('hostPath', 'must be empty when image is set');
          if (m.propagation !== 0) issue('propagation', 'must be PROPAGATION_PRIVATE for an image volume');
        }),
    ),
    devices: z.array(
      z.object({
        containerPath: absPath,
        hostPath: absPath,
        permissions: z.string().regex(/^[rwm]*$/, 'must be made of r, w and m'),
      }),
    ),
    labels,
    annotations: z.record(z.string(), z.string()),
    logPath: relativeLogPath,
    linux: z
      .object({
        resources,
        securityContext: z
          .looseObject({
            seccompProfilePath,
            namespaceOptions: z
              .object({
                network: mode([0, 2], 'POD, NODE'),
                pid: mode([0, 1, 2, 3], 'POD, CONTAINER, NODE, TARGET'),
                ipc: mode([0, 2], 'POD, NODE'),
              })
              .refine((o) => o.pid !== 3 || ('targetId' in o && typeof o.targetId === 'string' && o.targetId !== ''), {
                message: 'TARGET needs a target_id',
                path: ['targetId'],
              })
              .optional(),
          })
          .refine(runAsGroupNeedsUser, { message: 'needs run_as_user or run_as_username', path: ['runAsGroup'] })
          .optional(),
      })
      .optional(),
  },
  { error: 'is required' },
);

const byContainer = z.object({ containerId: id });

/** Exec and Attach: some stdio must be asked for, and a terminal merges stderr into stdout. */
const stdioShape = { tty: z.boolean(), stdin: z.boolean(), stdout: z.boolean(), stderr: z.boolean() };
const stdioRules = [
  [
    (r: z.infer<z.ZodObject<typeof stdioShape>>) => r.stdin || r.stdout || r.stderr,
    'one of stdin, stdout and stderr must be true',
  ],
  [
    (r: z.infer<z.ZodObject<typeof stdioShape>>) => !(r.tty && r.stderr),
    'tty and stderr cannot both be true (a terminal has one output)',
  ],
] as const;

const bySandbox = z.object({ podSandboxId: id });

/** The schema of each RuntimeService request that has more rules than its protobuf type. */
export const runtimeSchemas = {
  updateRuntimeConfig: z.object({
    runtimeConfig: z.object({ networkConfig: z.object({ podCidr }).optional() }).optional(),
  }),
  runPodSandbox: z.object({ config: podSandboxConfig, runtimeHandler: z.string() }),
  stopPodSandbox: bySandbox,
  removePodSandbox: bySandbox,
  podSandboxStatus: bySandbox,
  podSandboxStats: bySandbox,
  createContainer: z.object({ podSandboxId: id, config: containerConfig }),
  startContainer: byContainer,
  stopContainer: z.object({ containerId: id, timeout: nonNegative }),
  removeContainer: byContainer,
  containerStatus: byContainer,
  containerStats: byContainer,
  reopenContainerLog: byContainer,
  checkpointContainer: z.object({
    containerId: id,
    location: absPath,
    timeout: nonNegative,
  }),
  updateContainerResources: z.object({ containerId: id, linux: resources }),
  exec: z
    .object({ containerId: id, cmd: z.array(z.string()).min(1, 'must name a command'), ...stdioShape })
    .refine(...stdioRules[0])
    .refine(...stdioRules[1]),
  attach: z
    .object({ containerId: id, ...stdioShape })
    .refine(...stdioRules[0])
    .refine(...stdioRules[1]),
  portForward: z.object({
    podSandboxId: id,
    port: z.array(z.number().int().min(1, 'must be a port (1-65535)').max(65535, 'must be a port (1-65535)')),
  }),
  updatePodSandboxResources: z.object({ podSandboxId: id, overhead: resources, resources }),
  execSync: z.object({
    containerId: id,
    cmd: z.array(z.string()).min(1, 'must name a command'),
    timeout: nonNegative,
  }),
};
