/**
 * Stand-ins of the images the CRI validation suite (critest) pulls, built offline on the busybox-static base of
 * hack/images. Each one reproduces only what a spec looks at: the user and groups an image declares, the
 * process an nginx image runs, the page a web server answers, the effective uid a setuid program reports, the
 * tools a spec execs (busybox lacks `pgrep` and `ipcs`, so small scripts stand in for them).
 *
 * A stand-in is pushed under its upstream repository path (e.g. `e2e-test-images/busybox`) to the local
 * registry, which ucri reaches through registry mirrors for `registry.k8s.io` and `gcr.io`.
 */
import { busyboxLayer, DEFAULT_PATH, GROUP, loadBusybox, PASSWD } from '../images/busybox.js';
import type { ImageSpec, ManifestFormat, RuntimeConfig } from '../images/image.js';
import { Layer } from '../images/layer.js';

/** One stand-in: the upstream reference without its registry host, and every tag it is pushed under. */
export interface StandIn {
  /** `registry.k8s.io` or `gcr.io`: the host the suite names (mirrored to the local registry). */
  host: string;
  repository: string;
  tags: string[];
  format: ManifestFormat;
  spec: ImageSpec;
}

/** The static programs baked into the stand-ins (compiled by programs.ts). */
export interface StandInPrograms {
  nginx: Buffer;
  nonewprivs: Buffer;
  /** ucri's pause program, for the pause image. */
  pause: Buffer;
}

const K8S = 'registry.k8s.io';
const GCR = 'gcr.io';
const E2E = 'e2e-test-images/';
const CRI_TOOLS = 'k8s-staging-cri-tools/';

/** `pgrep NAME…` as pidof, one pid a line (what `pgrep sleep || true` in the exec-timeout spec reads). */
const PGREP = '#!/bin/sh\n# pgrep stand-in: busybox-static has no pgrep applet.\npidof "$@" | tr " " "\\n"\n';

/**
 * `ipcs -m`: the shared memory segments of the caller's IPC namespace, one a line with the shmid in the second
 * column (the IPC specs look for the id of a segment the host made).
 */
const IPCS =
  '#!/bin/sh\n# ipcs stand-in: busybox-static has no ipcs applet; /proc/sysvipc is per IPC namespace.\n' +
  'tail -n +2 /proc/sysvipc/shm\n';

/**
 * The httpd image's command: Apache logs its command line at start, which the multi-container log spec looks
 * for; busybox httpd then serves the page.
 */
const HTTPD_FOREGROUND =
  '#!/bin/sh\necho "[core:notice] AH00094: Command line: \'httpd -D FOREGROUND\'" >&2\n' +
  'exec httpd -f -p 80 -h /usr/local/apache2/htdocs\n';

const INDEX_HTML =
  '<!DOCTYPE html>\n<html><body><h1>Welcome to nginx!</h1><p>ucri critest stand-in</p></body></html>\n';

/** Builds the stand-in list (reads the host busybox). */
export async function standInCatalogue(programs: StandInPrograms): Promise<StandIn[]> {
  // Hard-linked applets as upstream busybox has them: the MaskedPaths spec masks /bin/ls and then expects
  // `sh -c ls` to fail, which a symlink would turn into masking busybox (and so sh) itself.
  const base = busyboxLayer(await loadBusybox(), { hardlinkApplets: true });
  // The tools every stand-in carries, so any of them can serve as the suite's default container image.
  const tools = new Layer({ createdBy: 'critest tools: pgrep, ipcs' })
    .dir('usr/bin')
    .file('usr/bin/pgrep', PGREP, { mode: 0o755 })
    .file('usr/bin/ipcs', IPCS, { mode: 0o755 });
  const image = (config: RuntimeConfig, ...extra: Layer[]): ImageSpec => ({
    kind: 'image',
    config: { Env: [DEFAULT_PATH], ...config },
    layers: [base, tools, ...extra],
  });
  const sh: RuntimeConfig = { Cmd: ['sh'] };

  const webRoot = (createdBy: string) =>
    new Layer({ createdBy }).dir('usr/share/nginx/html').file('usr/share/nginx/html/index.html', INDEX_HTML);
  const nginx = (port: number) =>
    image(
      { Env: [DEFAULT_PATH, `NGINX_PORT=${port}`], Cmd: ['/usr/sbin/nginx'], ExposedPorts: { [`${port}/tcp`]: {} } },
      webRoot('COPY nginx stand-in').dir('usr/sbin').file('usr/sbin/nginx', programs.nginx, { mode: 0o755 }),
    );

  // The user-config images: image config `User` plus the accounts it names.
  // `default-user` (1000) is in group 50000 only through /etc/group, which the predefined-group spec checks.
  const accounts = new Layer({ createdBy: 'critest users and groups' })
    .file(
      'etc/passwd',
      `${[...PASSWD, 'default-user:x:1000:1000:default user:/home/default-user:/bin/sh'].join('\n')}\n`,
    )
    .file(
      'etc/group',
      `${[...GROUP, 'default-user:x:1000:', 'group-defined-in-image:x:50000:default-user'].join('\n')}\n`,
    );
  const user = (u: string) => image({ ...sh, User: u }, accounts);

  // Three images that differ (the list spec wants three ids), and one image under three tags.
  const distinct = (n: number) =>
    image(sh, new Layer({ createdBy: `critest image ${n}` }).file(`critest-image-${n}`, `${n}\n`));

  const list: StandIn[] = [
    // ucri's default `pause_image`, the infra container of `docker` pods (critest --runtime-handler docker):
    // ucri's own pause program, as upstream's pause only waits. Not a shell script: the specs look for their
    // own `sleep` processes in a pod's shared PID namespace.
    {
      host: K8S,
      repository: 'pause',
      tags: ['3.9'],
      format: 'docker',
      spec: image(
        { Entrypoint: ['/pause'] },
        new Layer({ createdBy: 'COPY pause' }).file('pause', programs.pause, { mode: 0o755 }),
      ),
    },
    { host: K8S, repository: `${E2E}busybox`, tags: ['1.29-2'], format: 'docker', spec: image(sh) },
    { host: K8S, repository: `${E2E}nginx`, tags: ['1.14-2'], format: 'docker', spec: nginx(80) },
    {
      host: K8S,
      repository: `${E2E}httpd`,
      tags: ['2.4.39-4'],
      format: 'docker',
      spec: image(
        { Cmd: ['httpd-foreground'], ExposedPorts: { '80/tcp': {} } },
        new Layer({ createdBy: 'COPY httpd-foreground htdocs' })
          .dir('usr/local/bin')
          .file('usr/local/bin/httpd-foreground', HTTPD_FOREGROUND, { mode: 0o755 })
          .dir('usr/local/apache2/htdocs')
          .file('usr/local/apache2/htdocs/index.html', '<html><body><h1>It works!</h1></body></html>\n'),
      ),
    },
    {
      host: K8S,
      repository: `${E2E}nonewprivs`,
      tags: ['1.3'],
      format: 'docker',
      spec: image(
        { Cmd: ['/usr/local/bin/nnp'] },
        new Layer({ createdBy: 'COPY nnp (setuid root)' })
          .dir('usr/local/bin')
          .file('usr/local/bin/nnp', programs.nonewprivs, { mode: 0o4755, uid: 0, gid: 0 }),
      ),
    },
    {
      host: GCR,
      repository: `${CRI_TOOLS}hostnet-nginx-amd64`,
      tags: ['latest'],
      format: 'docker',
      spec: nginx(12003),
    },
    { host: GCR, repository: `${CRI_TOOLS}test-image-latest`, tags: ['latest'], format: 'docker', spec: image(sh) },
    { host: GCR, repository: `${CRI_TOOLS}test-image-tag`, tags: ['test', 'all'], format: 'docker', spec: image(sh) },
    { host: GCR, repository: `${CRI_TOOLS}test-image-tags`, tags: ['1', '2', '3'], format: 'docker', spec: image(sh) },
    ...[1, 2, 3].map(
      (n): StandIn => ({
        host: GCR,
        repository: `${CRI_TOOLS}test-image-${n}`,
        tags: ['latest'],
        format: 'docker',
        spec: distinct(n),
      }),
    ),
    {
      host: GCR,
      repository: `${CRI_TOOLS}test-image-user-uid`,
      tags: ['latest'],
      format: 'docker',
      spec: user('1002'),
    },
    {
      host: GCR,
      repository: `${CRI_TOOLS}test-image-user-username`,
      tags: ['latest'],
      format: 'docker',
      spec: user('www-data'),
    },
    {
      host: GCR,
      repository: `${CRI_TOOLS}test-image-user-uid-group`,
      tags: ['latest'],
      format: 'docker',
      spec: user('1003:1003'),
    },
    {
      host: GCR,
      repository: `${CRI_TOOLS}test-image-user-username-group`,
      tags: ['latest'],
      format: 'docker',
      spec: user('www-data:www-data'),
    },
    {
      host: GCR,
      repository: `${CRI_TOOLS}test-image-predefined-group`,
      tags: ['latest'],
      format: 'docker',
      spec: user('1000'),
    },
  ];
  // Upstream, each repository holds an image of its own; identical stand-ins would share one image id and
  // so carry each other's tags, which the image specs check. A label naming the repository keeps them apart.
  return list.map((s) => ({
    ...s,
    spec: { ...s.spec, config: { ...s.spec.config, Labels: { 'org.ucri.critest.repository': s.repository } } },
  }));
}
