import { UnavailableError } from '../../util/index.js';
import type { CriDeps } from '../deps.js';
import type { StreamUrls } from '../streaming/index.js';

/** The streaming server of the daemon; Unavailable when it was started without one. */
export function streamUrls(deps: CriDeps): StreamUrls {
  if (!deps.streaming) throw new UnavailableError('the streaming server is not running');
  return deps.streaming;
}
