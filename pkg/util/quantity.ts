/**
 * Byte sizes as Kubernetes writes resource quantities ("10Gi", "500M", "1.5G", "1048576"), for disk limits
 * given in the configuration and in pod annotations, and the bits per second of the CNI bandwidth annotations.
 */

const UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
};

const QUANTITY = /^(\d+(?:\.\d+)?)(k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$/;

/**
 * The number of bytes `text` names, rounded up to a whole byte; undefined when it is not a byte quantity
 * (negative, empty, exponent forms, unknown suffix) or exceeds Number.MAX_SAFE_INTEGER.
 */
export function parseByteQuantity(text: string): number | undefined {
  const m = QUANTITY.exec(text.trim());
  if (!m) return undefined;
  const bytes = Math.ceil(Number(m[1]) * UNITS[m[2] ?? '']!);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
