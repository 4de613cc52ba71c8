/**
 * Reconnection delay: exponential back-off with "equal jitter". The cap
 * doubles per failed attempt from `baseMs` up to `maxMs`; the delay is drawn
 * uniformly from [cap/2, cap). Half the cap is fixed so a peer that is down is
 * not hammered; the random half spreads the reconnects of many peers after a
 * restart. `u` is a uniform number in [0, 1) from the caller (Effect `Random`).
 */
export const backoffDelay = (attempt: number, baseMs: number, maxMs: number, u: number): number => {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), 52)
  const cap = Math.min(maxMs, baseMs * 2 ** exponent)
  const unit = Math.min(Math.max(u, 0), 1)
  return cap / 2 + (unit * cap) / 2
}
