import type { ListMetricDescriptorsResponse } from '../gen/cri/v1/api.js';
import { metricDescriptors } from '../metrics/index.js';

/** ListMetricDescriptors: the cAdvisor-named metrics ListPodSandboxMetrics reports. */
export function listMetricDescriptors() {
  return async (): Promise<ListMetricDescriptorsResponse> => ({ descriptors: metricDescriptors() });
}
