// Ephemeral port choice for an unconnected UDP bind to port 0, as udp_lib_get_port does it
// (net/ipv4/udp.c): range ip_local_port_range, default 32768-60999 (BEHAVIOR.md 3.7);
// rand = get_random_u32(); first = low + reciprocal_scale(rand, high - low + 1); the candidates
// are first, first + step, first + 2*step, ... (16-bit wrap) where step = (rand | 1) * HSIZE, an
// odd multiple of the UDP hash table size, so one pass visits every port of first's hash chain;
// then first + 1, ... for HSIZE chains. The first candidate in range and free wins: with nothing
// bound it is `first` itself. Freed ports (close) are free again at once.
//
// UDP hash table size: Linux sizes it from memory ("UDP hash table entries: 8192" is typical of
// a few-GB host); it only changes which free port is found when `first` is taken.

export const PORT_RANGE_LOW = 32768;
export const PORT_RANGE_HIGH = 60999;
export const UDP_HTABLE_SIZE = 8192;

/**
 * The port chosen for random word `rand` (uint32), or -1 (EADDRINUSE) when every port of the
 * range is taken. `used[p]` != 0 marks a bound port.
 */
export function ephemeralPort(rand: number, used: Uint8Array, low = PORT_RANGE_LOW, high = PORT_RANGE_HIGH, hsize = UDP_HTABLE_SIZE): number {
  const remaining = high - low + 1;
  let first = (low + Math.floor((rand >>> 0) * remaining / 0x1_0000_0000)) & 0xffff; // reciprocal_scale
  const step = Math.imul((rand | 1) >>> 0, hsize) & 0xffff; // unsigned short arithmetic
  const last = (first + hsize) & 0xffff;
  do {
    let snum = first;
    do {
      if (snum >= low && snum <= high && used[snum] === 0) return snum;
      snum = (snum + step) & 0xffff;
    } while (snum !== first);
    first = (first + 1) & 0xffff;
  } while (first !== last);
  return -1;
}

/** The same search written as plainly as possible: chains in order from `first`, each chain's ports in step order. */
export function ephemeralPortReference(rand: number, used: Uint8Array, low = PORT_RANGE_LOW, high = PORT_RANGE_HIGH, hsize = UDP_HTABLE_SIZE): number {
  const first0 = low + Math.floor(((rand >>> 0) * (high - low + 1)) / 2 ** 32);
  const step = (((rand | 1) >>> 0) * hsize) % 65536;
  for (let c = 0; c < hsize; c++) {
    const first = (first0 + c) % 65536;
    for (let k = 0; k < 65536 / hsize; k++) {
      const p = (first + k * step) % 65536;
      if (p >= low && p <= high && !used[p]) return p;
    }
  }
  return -1;
}
