/**
 * Configured registry credentials: a Docker config file (`--docker_config`, `{"auths": …}`) and the TOML
 * `[registry.auths."host"]` tables, the latter winning for a host both name.
 */
import { type CredentialLookup, credentialsFromJson, loadCredentialsFile } from '../../../image/index.js';

/** Builds one lookup from a docker config file (optional) and inline auths. */
export async function configuredCredentials(
  dockerConfig: string | undefined,
  auths: Record<string, { username?: string; password?: string; auth?: string; identitytoken?: string }>,
): Promise<CredentialLookup> {
  const fromFile = dockerConfig ? await loadCredentialsFile(dockerConfig) : () => undefined;
  const inline = credentialsFromJson({ auths }, 'registry.auths');
  return (host) => inline(host) ?? fromFile(host);
}
