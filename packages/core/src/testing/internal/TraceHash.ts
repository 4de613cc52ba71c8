/**
 * A running fingerprint of everything a run did (event times, kinds, nodes,
 * every delivered frame, every commit). Two 32-bit multiply-xor lanes: cheap
 * enough to fold every frame, and a difference anywhere changes the result.
 * Not cryptographic: it detects nondeterminism, it does not resist forgery.
 */
export class TraceHash {
  private h1 = 0x811c9dc5
  private h2 = 0x9e3779b9

  int(x: number): void {
    this.h1 = Math.imul(this.h1 ^ (x | 0), 0x01000193)
    this.h2 = Math.imul(this.h2 ^ ((x / 0x1_0000_0000) | 0) ^ (x | 0), 0x5bd1e995)
    this.h2 ^= this.h2 >>> 15
  }

  /**
   * A frame: its length and its last 32 bytes. An authentic frame ends in a
   * signature over all its other bytes, so the tail already depends on every
   * byte; garbage frames come from the PRNG, whose divergence shows elsewhere.
   */
  frame(b: Uint8Array): void {
    let h1 = this.h1
    let h2 = this.h2
    for (let i = Math.max(0, b.length - 32); i < b.length; i++) {
      const x = b[i]!
      h1 = Math.imul(h1 ^ x, 0x01000193)
      h2 = Math.imul(h2 ^ x, 0x5bd1e995) ^ (h2 >>> 13)
    }
    this.h1 = h1
    this.h2 = h2
    this.int(b.length)
  }

  string(s: string): void {
    let h1 = this.h1
    let h2 = this.h2
    for (let i = 0; i < s.length; i++) {
      const x = s.charCodeAt(i)
      h1 = Math.imul(h1 ^ x, 0x01000193)
      h2 = Math.imul(h2 ^ x, 0x5bd1e995) ^ (h2 >>> 13)
    }
    this.h1 = h1
    this.h2 = h2
    this.int(s.length)
  }

  hex(): string {
    return (this.h1 >>> 0).toString(16).padStart(8, "0") + (this.h2 >>> 0).toString(16).padStart(8, "0")
  }
}
