/**
 * Typed Engine API calls (the subset of API 1.41 the Docker containerizer uses). Only the fields ucri reads
 * or writes are declared; dockerd ignores the rest and sends more.
 */
import type { Readable } from 'node:stream';
import type { DockerClient } from './client.js';
import { jsonLines } from './streams.js';

export interface ContainerState {
  Status: 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';
  Running: boolean;
  Pid: number;
  ExitCode: number;
  OOMKilled: boolean;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
}

export interface ContainerInspect {
  Id: string;
  Name: string;
  Created: string;
  State: ContainerState;
  Image: string;
  HostsPath: string;
  LogPath: string;
  Config: { Labels: Record<string, string> | null; Tty: boolean; OpenStdin: boolean; StopSignal?: string };
  HostConfig: { CgroupParent: string; NetworkMode: string };
  GraphDriver?: { Data?: Record<string, string> };
}

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Labels: Record<string, string> | null;
  State: string;
}

export interface ExecInspect {
  ID: string;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
}

export interface ImageInspect {
  Id: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
}

/** A message of GET /events. */
export interface EngineEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  timeNano: number;
}

/** Credentials for one pull, sent base64 JSON in X-Registry-Auth. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  identitytoken?: string;
  serveraddress?: string;
}

const enc = encodeURIComponent;

/** The Engine API calls, bound to one client. */
export class EngineApi {
  constructor(readonly client: DockerClient) {}

  version(signal?: AbortSignal): Promise<{ Version: string; ApiVersion: string }> {
    return this.client.call('GET', '/version', { signal });
  }

  createContainer(name: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<{ Id: string }> {
    return this.client.call('POST', '/containers/create', { query: { name }, body, signal });
  }

  inspectContainer(id: string, signal?: AbortSignal): Promise<ContainerInspect> {
    return this.client.call('GET', `/containers/${enc(id)}/json`, { signal });
  }

  /** Containers (running or not) carrying every one of `labels` (`key=value` or `key`). */
  listContainers(labels: string[], signal?: AbortSignal): Promise<ContainerSummary[]> {
    return this.client.call('GET', '/containers/json', {
      query: { all: true, filters: JSON.stringify({ label: labels }) },
      signal,
    });
  }

  async startContainer(id: string, signal?: AbortSignal): Promise<void> {
    await this.client.call('POST', `/containers/${enc(id)}/start`, { signal });
  }

  /** Stop signal, then SIGKILL after `t` seconds; resolves when the container stopped. */
  async stopContainer(id: string, t: number, signal?: AbortSignal): Promise<void> {
    await this.client.call('POST', `/containers/${enc(id)}/stop`, { query: { t }, signal });
  }

  async killContainer(id: string, sig: string, signal?: AbortSignal): Promise<void> {
    await this.client.call('POST', `/containers/${enc(id)}/kill`, { query: { signal: sig }, signal });
  }

  async removeContainer(id: string, signal?: AbortSignal): Promise<void> {
    await this.client.call('DELETE', `/containers/${enc(id)}`, { query: { force: true, v: true }, signal });
  }

  /** Blocks until the container is not running; its exit code. */
  waitContainer(id: string, signal?: AbortSignal): Promise<{ StatusCode: number }> {
    return this.client.call('POST', `/containers/${enc(id)}/wait`, { query: { condition: 'not-running' }, signal });
  }

  async updateContainer(id: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    await this.client.call('POST', `/containers/${enc(id)}/update`, { body, signal });
  }

  async resizeContainer(id: string, h: number, w: number): Promise<void> {
    await this.client.call('POST', `/containers/${enc(id)}/resize`, { query: { h, w } });
  }

  /** The container's log stream: multiplexed frames (no TTY) or raw bytes (TTY), each line timestamped. */
  logs(id: string, opts: { follow: boolean; since: string }, signal?: AbortSignal): Promise<Readable> {
    return this.client.raw('GET', `/containers/${enc(id)}/logs`, {
      query: { follow: opts.follow, stdout: true, stderr: true, timestamps: true, since: opts.since || undefined },
      signal,
    });
  }

  attach(id: string, opts: { stdin: boolean; stdout: boolean; stderr: boolean }, signal?: AbortSignal) {
    return this.client.hijack(`/containers/${enc(id)}/attach`, {
      query: { stream: true, stdin: opts.stdin, stdout: opts.stdout, stderr: opts.stderr },
      signal,
    });
  }

  execCreate(id: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<{ Id: string }> {
    return this.client.call('POST', `/containers/${enc(id)}/exec`, { body, signal });
  }

  execStart(execId: string, tty: boolean, signal?: AbortSignal) {
    return this.client.hijack(`/exec/${enc(execId)}/start`, { body: { Detach: false, Tty: tty }, signal });
  }

  execInspect(execId: string, signal?: AbortSignal): Promise<ExecInspect> {
    return this.client.call('GET', `/exec/${enc(execId)}/json`, { signal });
  }

  async execResize(execId: string, h: number, w: number): Promise<void> {
    await this.client.call('POST', `/exec/${enc(execId)}/resize`, { query: { h, w } });
  }

  inspectImage(ref: string, signal?: AbortSignal): Promise<ImageInspect> {
    return this.client.call('GET', `/images/${ref}/json`, { signal });
  }

  /** Pulls `ref` (`name:tag` or `name@digest`); resolves when done, throws the first error message. */
  async pullImage(ref: string, auth: RegistryAuth | undefined, signal?: AbortSignal): Promise<void> {
    const headers: Record<string, string> = {};
    if (auth) headers['x-registry-auth'] = Buffer.from(JSON.stringify(auth)).toString('base64url');
    const body = await this.client.raw('POST', '/images/create', { query: { fromImage: ref }, headers, signal });
    for await (const msg of jsonLines<{ error?: string; errorDetail?: { message?: string } }>(body)) {
      if (msg.error) throw new Error(msg.errorDetail?.message ?? msg.error);
    }
  }

  async tagImage(source: string, repo: string, tag: string, signal?: AbortSignal): Promise<void> {
    await this.client.call('POST', `/images/${source}/tag`, { query: { repo, tag }, signal });
  }

  /** The event stream, filtered by labels; ends when dockerd goes away. */
  async events(labels: string[], signal?: AbortSignal): Promise<AsyncGenerator<EngineEvent>> {
    const body = await this.client.raw('GET', '/events', {
      query: { filters: JSON.stringify({ type: ['container'], label: labels }) },
      signal,
    });
    return jsonLines<EngineEvent>(body);
  }
}
