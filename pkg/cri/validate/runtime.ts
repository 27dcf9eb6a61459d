/**
 * zod schemas of RuntimeService requests: what each must satisfy beyond its protobuf type. A failure becomes
 * INVALID_ARGUMENT naming the field. Messages arrive as ts-proto objects (camelCase, defaults filled in).
 */
import * as z from 'zod/mini';
import { unifiedSettingProblem } from '../../containerizer/index.js';

/** An IPv4 or IPv6 CIDR such as 10.88.0.0/16 or fd00::/64. */
const ipv4 = z.ipv4();
const ipv6 = z.ipv6();
const cidr = z.string().check(
  z.refine((s) => {
    const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
    if (!m) return false;
    const bits = Number(m[2]);
    return ipv4.safeParse(m[1]).success ? bits <= 32 : ipv6.safeParse(m[1]).success && bits <= 128;
  }, 'must be an IPv4 or IPv6 CIDR'),
);

const podCidr = z
  .string()
  .check(
    z.refine(
      (s) => s === '' || s.split(',').every((p) => cidr.safeParse(p.trim()).success),
      'must be CIDRs joined by ","',
    ),
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
  .check(
    z.minLength(1, 'must not be empty'),
    z.maxLength(253, 'must be at most 253 characters'),
    z.regex(/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/, 'must consist of letters, digits, "-" and "." (DNS name)'),
  );

/** A pod uid: kubelet sends a UUID; anything without path or separator characters is accepted. */
const uid = z
  .string()
  .check(
    z.minLength(1, 'must not be empty'),
    z.maxLength(128, 'must be at most 128 characters'),
    z.regex(/^[A-Za-z0-9.-]+$/, 'must consist of letters, digits, "-" and "."'),
  );

const absPath = z.string().check(
  z.refine((s) => s.startsWith('/'), 'must be an absolute path'),
  z.refine((s) => !s.includes('\0'), 'must not contain NUL'),
);
const optAbsPath = z
  .string()
  .check(z.refine((s) => s === '' || (s.startsWith('/') && !s.includes('\0')), 'must be an absolute path'));
const id = z
  .string()
  .check(
    z.minLength(1, 'must not be empty'),
    z.maxLength(64, 'must be at most 64 characters'),
    z.regex(/^[0-9a-f]*$/, 'must be a hex id (or a prefix of one)'),
  );
const nonNegative = z.bigint().check(z.refine((v) => v >= 0n, 'must not be negative'));
const ip = z
  .string()
  .check(z.refine((s) => ipv4.safeParse(s).success || ipv6.safeParse(s).success, 'must be an IP address'));
const port = z.number().check(z.int(), z.gte(0, 'must be a port number'), z.lte(65535, 'must be a port number'));
/** A count such as a pod's `attempt`: an integer, 0 or more. */
const count = z.number().check(z.int(), z.gte(0));

/** CRI NamespaceMode values: POD 0, CONTAINER 1, NODE 2, TARGET 3. */
const mode = (allowed: number[], names: string) =>
  z.number().check(z.refine((m) => allowed.includes(m), `must be one of ${names}`));

const labels = z
  .record(z.string(), z.string())
  .check(
    z.refine((m) => Object.keys(m).every((k) => k.length > 0 && k.length <= 317), 'keys must be 1 to 317 characters'),
  );
/** A bigint of at least `min`, e.g. -1 for "unlimited". */
const bigintFrom = (min: bigint, message: string) => z.bigint().check(z.refine((v) => v >= min, message));

const resources = z.optional(
  z.object({
    cpuPeriod: nonNegative,
    cpuShares: nonNegative,
    memoryLimitInBytes: nonNegative,
    memorySwapLimitInBytes: bigintFrom(-1n, 'must be -1 (unlimited) or more'),
    cpuQuota: bigintFrom(-1n, 'must be -1 (unlimited) or more'),
    oomScoreAdj: z.bigint().check(z.refine((v) => v >= -1000n && v <= 1000n, 'must be between -1000 and 1000')),
    cpusetCpus: z.string().check(z.regex(/^[0-9,\- ]*$/, 'must be a cpu list such as 0-3,5')),
    cpusetMems: z.string().check(z.regex(/^[0-9,\- ]*$/, 'must be a node list such as 0-1')),
    unified: z.record(z.string(), z.string()).check(
      z.superRefine((m, ctx) => {
        for (const [k, v] of Object.entries(m)) {
          const problem = unifiedSettingProblem(k, v);
          if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, path: [k] });
        }
      }),
    ),
  }),
);

/**
 * The deprecated `seccomp_profile_path`: empty, a named profile, or `localhost/` and an absolute path. A bare
 * path is refused (the validation suite expects it): it would otherwise run the container unconfined.
 */
const seccompProfilePath = z.optional(
  z
    .string()
    .check(
      z.refine(
        (s) =>
          ['', 'runtime/default', 'docker/default', 'unconfined'].includes(s) ||
          (s.startsWith('localhost//') && !s.includes('\0')),
        'must be runtime/default, docker/default, unconfined or localhost/<absolute path>',
      ),
    ),
);

const runAsGroupCheck = z.refine<object>(runAsGroupNeedsUser, {
  message: 'needs run_as_user or run_as_username',
  path: ['runAsGroup'],
});

const podMetadata = z.object({ name: criName, namespace: criName, uid, attempt: count }, { error: 'is required' });

const podSandboxConfig = z.object(
  {
    metadata: podMetadata,
    hostname: z
      .string()
      .check(
        z.maxLength(64, 'must be at most 64 characters'),
        z.regex(/^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)?$/, 'must be a host name'),
      ),
    logDirectory: optAbsPath,
    dnsConfig: z.optional(z.object({ servers: z.array(ip) })),
    portMappings: z.array(
      z.object({
        containerPort: port,
        hostPort: port,
        hostIp: z.string().check(z.refine((s) => s === '' || ip.safeParse(s).success, 'must be an IP address')),
      }),
    ),
    labels,
    annotations: z.record(z.string(), z.string()),
    linux: z.optional(
      z.object({
        cgroupParent: z.string().check(
          z.refine(
            (s) => s === '' || s.startsWith('/') || s.endsWith('.slice'),
            'must be an absolute cgroup path or a systemd slice',
          ),
          z.refine((s) => !s.split('/').includes('..'), 'must not contain ".."'),
        ),
        securityContext: z.optional(
          z
            .looseObject({
              seccompProfilePath,
              namespaceOptions: z.optional(
                z.object({
                  network: mode([0, 2], 'POD, NODE'),
                  pid: mode([0, 1, 2], 'POD, CONTAINER, NODE'),
                  ipc: mode([0, 2], 'POD, NODE'),
                }),
              ),
            })
            .check(runAsGroupCheck),
        ),
        resources,
        overhead: resources,
      }),
    ),
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

const relativeLogPath = z.string().check(
  z.refine((s) => !s.startsWith('/'), 'must be relative to the pod log directory'),
  z.refine((s) => !s.split('/').includes('..'), 'must not contain ".."'),
);

const imageSubPath = z.string().check(
  z.refine((s) => !s.startsWith('/'), 'must be relative to the image root'),
  z.refine((s) => !s.includes('\0'), 'must not contain NUL'),
  z.refine((s) => !s.split('/').includes('..'), 'must not contain ".."'),
);

const containerConfig = z.object(
  {
    metadata: z.object({ name: criName, attempt: count }, { error: 'is required' }),
    image: z.object({ image: z.string().check(z.minLength(1, 'must not be empty')) }, { error: 'is required' }),
    workingDir: optAbsPath,
    envs: z.array(
      z.object({
        key: z.string().check(
          z.minLength(1, 'must not be empty'),
          z.refine((k) => !k.includes('=') && !k.includes('\0'), 'must not contain "=" or NUL'),
        ),
      }),
    ),
    mounts: z.array(
      z
        .object({
          containerPath: absPath,
          hostPath: z.string(),
          image: z.nullish(z.object({ image: z.string() })),
          imageSubPath: imageSubPath,
          propagation: mode([0, 1, 2], 'PROPAGATION_PRIVATE, PROPAGATION_HOST_TO_CONTAINER, PROPAGATION_BIDIRECTIONAL'),
        })
        .check(
          z.superRefine((m, ctx) => {
            const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
            if (!m.image?.image) {
              // A host path mount.
              if (!m.hostPath.startsWith('/') || m.hostPath.includes('\0'))
                issue('hostPath', 'must be an absolute path');
              if (m.imageSubPath !== '') issue('imageSubPath', 'is only allowed with image');
              return;
            }
            // An image volume (KEP-4639): read-only, private, no host path.
            if (m.hostPath !== '') issue('hostPath', 'must be empty when image is set');
            if (m.propagation !== 0) issue('propagation', 'must be PROPAGATION_PRIVATE for an image volume');
          }),
        ),
    ),
    devices: z.array(
      z.object({
        containerPath: absPath,
        hostPath: absPath,
        permissions: z.string().check(z.regex(/^[rwm]*$/, 'must be made of r, w and m')),
      }),
    ),
    labels,
    annotations: z.record(z.string(), z.string()),
    logPath: relativeLogPath,
    linux: z.optional(
      z.object({
        resources,
        securityContext: z.optional(
          z
            .looseObject({
              seccompProfilePath,
              namespaceOptions: z.optional(
                z
                  .object({
                    network: mode([0, 2], 'POD, NODE'),
                    pid: mode([0, 1, 2, 3], 'POD, CONTAINER, NODE, TARGET'),
                    ipc: mode([0, 2], 'POD, NODE'),
                  })
                  .check(
                    z.refine(
                      (o) => o.pid !== 3 || ('targetId' in o && typeof o.targetId === 'string' && o.targetId !== ''),
                      { message: 'TARGET needs a target_id', path: ['targetId'] },
                    ),
                  ),
              ),
            })
            .check(runAsGroupCheck),
        ),
      }),
    ),
  },
  { error: 'is required' },
);

const byContainer = z.object({ containerId: id });

/** Exec and Attach: some stdio must be asked for, and a terminal merges stderr into stdout. */
const stdioShape = { tty: z.boolean(), stdin: z.boolean(), stdout: z.boolean(), stderr: z.boolean() };
type Stdio = z.infer<z.ZodMiniObject<typeof stdioShape>>;
const stdioRules = [
  z.refine<Stdio>((r) => r.stdin || r.stdout || r.stderr, 'one of stdin, stdout and stderr must be true'),
  z.refine<Stdio>((r) => !(r.tty && r.stderr), 'tty and stderr cannot both be true (a terminal has one output)'),
];

const bySandbox = z.object({ podSandboxId: id });

/** The schema of each RuntimeService request that has more rules than its protobuf type. */
export const runtimeSchemas = {
  updateRuntimeConfig: z.object({
    runtimeConfig: z.optional(z.object({ networkConfig: z.optional(z.object({ podCidr })) })),
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
    .object({ containerId: id, cmd: z.array(z.string()).check(z.minLength(1, 'must name a command')), ...stdioShape })
    .check(...stdioRules),
  attach: z.object({ containerId: id, ...stdioShape }).check(...stdioRules),
  portForward: z.object({
    podSandboxId: id,
    port: z.array(
      z.number().check(z.int(), z.gte(1, 'must be a port (1-65535)'), z.lte(65535, 'must be a port (1-65535)')),
    ),
  }),
  updatePodSandboxResources: z.object({ podSandboxId: id, overhead: resources, resources }),
  execSync: z.object({
    containerId: id,
    cmd: z.array(z.string()).check(z.minLength(1, 'must name a command')),
    timeout: nonNegative,
  }),
};
