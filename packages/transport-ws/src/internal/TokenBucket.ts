/**
 * A token bucket: `ratePerSecond` tokens refill continuously up to `burst`.
 * Used per connection for the flood limits (frames and bytes per second) and
 * for the budget of rejected frames after which a connection is closed. Time is
 * passed in (milliseconds from the Effect Clock), so tests control it.
 */
export class TokenBucket {
  private tokens: number
  private last: number | undefined

  constructor(readonly ratePerSecond: number, readonly burst: number) {
    if (!(ratePerSecond > 0) || !(burst > 0)) throw new RangeError(`TokenBucket: rate and burst must be positive (${ratePerSecond}, ${burst})`)
    this.tokens = burst
  }

  /** Take `amount` tokens at time `nowMs`; false (and nothing taken) when there are not enough. */
  take(nowMs: number, amount = 1): boolean {
    if (this.last !== undefined && nowMs > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.last) * this.ratePerSecond) / 1000)
    }
    if (this.last === undefined || nowMs > this.last) this.last = nowMs
    if (this.tokens < amount) return false
    this.tokens -= amount
    return true
  }

  /** Tokens available at the last `take` (for tests and stats). */
  available(): number {
    return this.tokens
  }
}
