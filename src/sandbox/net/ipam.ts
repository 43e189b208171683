// Address allocation from an IPv4 CIDR (pods from the node's pod CIDR, ClusterIPs from the
// service CIDR). Pure: the controller owns one instance per range.

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new Error(`invalid IPv4 address: ${ip}`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`invalid IPv4 address: ${ip}`);
    n = n * 256 + Number(p);
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(cidr: string): { base: number; bits: number; size: number } {
  const [ip, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (!ip || !Number.isInteger(bits) || bits < 8 || bits > 30) throw new Error(`invalid CIDR: ${cidr}`);
  const size = 2 ** (32 - bits);
  const base = ipToInt(ip) - (ipToInt(ip) % size);
  return { base, bits, size };
}

export function cidrContains(cidr: string, ip: string): boolean {
  const { base, size } = parseCidr(cidr);
  const n = ipToInt(ip);
  return n >= base && n < base + size;
}

/** The n-th address of a CIDR (1 = first usable). */
export function nthAddress(cidr: string, n: number): string {
  return intToIp(parseCidr(cidr).base + n);
}

export class Ipam {
  private readonly byKey = new Map<string, string>();
  private readonly used = new Set<string>();
  private next = 0;

  /** Offsets [firstOffset, size-2] are handed out; network and broadcast never. */
  constructor(readonly cidr: string, private readonly firstOffset = 2) {}

  reserve(key: string, ip: string): void {
    if (!cidrContains(this.cidr, ip)) throw new Error(`${ip} is outside ${this.cidr}`);
    const owner = [...this.byKey].find(([, v]) => v === ip)?.[0];
    if (owner !== undefined && owner !== key) throw new Error(`${ip} is already allocated to ${owner}`);
    this.byKey.set(key, ip);
    this.used.add(ip);
  }

  allocate(key: string): string {
    const have = this.byKey.get(key);
    if (have) return have;
    const { base, size } = parseCidr(this.cidr);
    const span = size - 1 - this.firstOffset;
    for (let i = 0; i < span; i++) {
      const ip = intToIp(base + this.firstOffset + ((this.next + i) % span));
      if (!this.used.has(ip)) {
        this.next = (this.next + i + 1) % span;
        this.reserve(key, ip);
        return ip;
      }
    }
    throw new Error(`address range ${this.cidr} is exhausted`);
  }

  release(key: string): void {
    const ip = this.byKey.get(key);
    if (ip) this.used.delete(ip);
    this.byKey.delete(key);
  }

  get(key: string): string | undefined {
    return this.byKey.get(key);
  }
}
