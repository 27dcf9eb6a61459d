/**
 * CRI metrics over the socket: ListMetricDescriptors names the cAdvisor metrics, and ListPodSandboxMetrics
 * (and its Stream twin) report values that move with a container that allocates memory and burns CPU,
 * and with traffic into the pod's network namespace; every sample matches its descriptor.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PodSandboxMetrics } from '../support/cri-client.js';
import { finishPodEnv, type PodEnv, podWithContainer, startPodEnv } from './pod-fixture.js';

const MB = 1_000_000;

/** Allocates ~80 MB in a shell variable, burns CPU for 4 s, then says so and waits (the shell stays). */
const SCRIPT =
  'x=$(head -c 80000000 /dev/zero | tr "\\0" a); end=$(($(date +%s)+4)); ' +
  'while [ $(date +%s) -lt $end ]; do :; done; echo burnt; sleep 1000 & wait';

/** Waits (no fixed delay: until the line appears, at most a minute) for `text` in a container log. */
async function waitForLog(file: string, text: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (existsSync(file) && readFileSync(file, 'utf8').includes(text)) return;
    await sleep(100);
  }
  throw new Error(`"${text}" never appeared in ${file}`);
}

/** A TCP port nobody listens on right now. */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** The value of one sample line of a Prometheus text exposition (`name{labels} value`). */
function scraped(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `series ${series} in the scrape`);
  return Number(line.split(' ')[1]);
}

function value(pm: PodSandboxMetrics, containerId: string, name: string, ...labels: string[]): number {
  const all = containerId === '' ? pm.metrics : pm.containerMetrics.find((c) => c.containerId === containerId)?.metrics;
  const m = all?.find((s) => s.name === name && labels.every((l) => s.labelValues.includes(l)));
  assert.ok(m, `metric ${name} ${labels.join(',')} present`);
  return Number(m.value?.value ?? 0n);
}

describe('CRI metrics (e2e)', () => {
  let env: PodEnv;
  let ok = false;
  let metricsPort = 0;
  before(async () => {
    metricsPort = await freePort();
    env = await startPodEnv([`--metrics_address=127.0.0.1:${metricsPort}`]);
  });
  after(() => finishPodEnv(env, ok));

  it('reports cAdvisor-named metrics that move with CPU, memory and network use', async () => {
    const { descriptors } = await env.c.runtime.listMetricDescriptors({});
    const byName = new Map(descriptors.map((d) => [d.name, d]));
    for (const n of [
      'container_cpu_usage_seconds_total',
      'container_memory_working_set_bytes',
      'container_memory_rss',
      'container_memory_usage_bytes',
      'container_network_receive_bytes_total',
      'container_network_transmit_bytes_total',
      'container_processes',
      'container_threads',
    ]) {
      assert.ok(byName.has(n), `descriptor ${n}`);
    }

    const { podSandboxId, containerId, config } = await podWithContainer(env, SCRIPT, 'burner');
    const sample = async () => {
      const { podMetrics } = await env.c.runtime.listPodSandboxMetrics({});
      const pm = podMetrics.find((p) => p.podSandboxId === podSandboxId);
      assert.ok(pm, 'the pod is reported');
      // Every sample names a descriptor and carries one value per label key.
      for (const m of [...pm.metrics, ...pm.containerMetrics.flatMap((c) => c.metrics)]) {
        const d = byName.get(m.name);
        assert.ok(d, `sample ${m.name} has a descriptor`);
        assert.equal(m.labelValues.length, d.labelKeys.length, `${m.name} label values`);
      }
      return pm;
    };
    const first = await sample();
    await waitForLog(path.join(config.logDirectory, 'main.log'), 'burnt');
    const burnt = await sample();
    const cpu = (pm: PodSandboxMetrics) => value(pm, containerId, 'container_cpu_usage_seconds_total', 'total');
    assert.ok(cpu(burnt) >= 1, `cpu seconds ${cpu(first)} → ${cpu(burnt)}`);
    assert.ok(cpu(burnt) > cpu(first));
    const rss = value(burnt, containerId, 'container_memory_rss');
    assert.ok(rss >= 60 * MB, `rss ${rss}`);
    assert.ok(value(burnt, containerId, 'container_memory_working_set_bytes') >= 60 * MB);
    assert.ok(value(burnt, containerId, 'container_memory_usage_bytes') >= rss);
    assert.ok(value(burnt, containerId, 'container_processes') >= 2, 'sh and sleep');
    assert.ok(value(burnt, containerId, 'container_threads') >= 2);

    // Traffic into the pod's namespace: the host sends UDP datagrams to a closed port of the pod's IP (the
    // pod answers with ICMP port unreachable).
    const st = await env.c.runtime.podSandboxStatus({ podSandboxId, verbose: false });
    const ip = st.status?.network?.ip ?? '';
    const rx0 = value(burnt, '', 'container_network_receive_bytes_total', 'eth0');
    const tx0 = value(burnt, '', 'container_network_transmit_bytes_total', 'eth0');
    const sock = dgram.createSocket('udp4');
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve, reject) =>
        sock.send(Buffer.alloc(1000), 9, ip, (e) => (e ? reject(e) : resolve())),
      );
    }
    sock.close();
    const pinged = await sample();
    assert.ok(value(pinged, '', 'container_network_receive_bytes_total', 'eth0') >= rx0 + 5 * 1000);
    assert.ok(value(pinged, '', 'container_network_transmit_bytes_total', 'eth0') > tx0);

    // The stream reports the same pods and containers.
    const streamed: PodSandboxMetrics[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = env.c.rawRuntime.streamPodSandboxMetrics({}, { deadline: Date.now() + 30_000 });
      call.on('data', (m: { podSandboxMetrics: PodSandboxMetrics[] }) => streamed.push(...m.podSandboxMetrics));
      call.on('error', reject);
      call.on('end', resolve);
    });
    const s = streamed.find((p) => p.podSandboxId === podSandboxId);
    assert.deepEqual(
      s?.containerMetrics.map((c) => c.containerId),
      [containerId],
    );
    // PodSandboxStats carries the same network counters.
    const stats = await env.c.runtime.podSandboxStats({ podSandboxId });
    assert.equal(stats.stats?.linux?.network?.defaultInterface?.name, 'eth0');
    ok = true;
  });

  it("serves the daemon's own Prometheus metrics on --metrics_address", async () => {
    ok = false;
    await assert.rejects(env.c.runtime.containerStatus({ containerId: 'e'.repeat(64), verbose: false }));
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.ok(scraped(text, 'ucri_cri_request_duration_seconds_count{rpc="RunPodSandbox",code="OK"}') >= 1);
    assert.ok(scraped(text, 'ucri_cri_request_duration_seconds_count{rpc="ListPodSandboxMetrics",code="OK"}') >= 3);
    assert.equal(scraped(text, 'ucri_cri_request_errors_total{rpc="ContainerStatus",code="NOT_FOUND"}'), 1);
    assert.equal(scraped(text, 'ucri_pods{state="ready"}'), 1);
    assert.equal(scraped(text, 'ucri_containers{state="running"}'), 1);
    assert.equal(scraped(text, 'ucri_image_pull_duration_seconds_count{outcome="ok"}'), 1);
    assert.ok(scraped(text, 'ucri_image_pull_bytes_total') > 0);
    assert.ok(scraped(text, 'ucri_cni_plugin_duration_seconds_count{command="ADD",plugin="bridge",outcome="ok"}') >= 1);
    assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status, 404);
    ok = true;
  });
});
