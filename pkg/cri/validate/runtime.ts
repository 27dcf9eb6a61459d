/**
 * zod schemas of RuntimeService requests: what each must satisfy beyond its protobuf type. A failure becomes
 * INVALID_ARGUMENT naming the field. Messages arrive as ts-proto objects (camelCase, defaults filled in).
 */
import { z } from 'zod';

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

export const runtimeSchemas = {
  updateRuntimeConfig: z.object({
    runtimeConfig: z.object({ networkConfig: z.object({ podCidr }).optional() }).optional(),
  }),
};
