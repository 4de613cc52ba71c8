/**
 * A Paxos client driver whose request numbers start at `firstSeq` and never
 * run more than `window` ahead of the oldest one still pending.
 *
 * Why both:
 * - The Paxos client numbers its requests from 0, and replicas keep a
 *   client's session (its acknowledged prefix and recent results) as
 *   replicated state across the client's restarts. A second process of the
 *   same client identity must therefore number above everything the first
 *   used, or the replicas would answer it with the first process's results
 *   or as expired. `ClientSession` hands out `firstSeq`.
 * - Replicas refuse a request more than `maxSessionResults` above the
 *   client's acknowledged prefix (`session-window-exceeded`). When one request
 *   is slow (a leader change) while the others complete, a client that keeps
 *   submitting runs past it; here `submit` says "not now" instead (the shell
 *   turns that into `ClientOverloaded`, which has no effect and is retried).
 *
 * Requests are renumbered on the way out and replies on the way in; the inner
 * driver and the shell only ever see the inner numbers.
 */
import type { Client as CoreClient, Protocol } from "@synod/core"
import { type Client, Messages } from "@synod/paxos"

export interface SequencedDriver extends CoreClient.ClientDriver<Messages.PaxosMessage> {
  /** Request numbers used so far: every number this process sent is below `firstSeq + issued()`. */
  issued(): number
}

export const sequenced = (inner: Client.PaxosClientDriver, firstSeq: number, window: number): SequencedDriver => {
  if (!Number.isSafeInteger(firstSeq) || firstSeq < 0) throw new RangeError(`firstSeq must be a non-negative safe integer, got ${firstSeq}`)
  if (!Number.isSafeInteger(window) || window < 1) throw new RangeError(`window must be a positive integer, got ${window}`)
  const pending = new Set<number>()
  let next = 0
  let mapped: Protocol.Ready<Messages.PaxosMessage> | undefined

  const oldestPending = (): number => {
    let low = next
    for (const s of pending) if (s < low) low = s
    return low
  }

  const outward = (m: Messages.PaxosMessage): Messages.PaxosMessage =>
    m._tag === "Request"
      ? new Messages.Request({ ...m, seq: (m.seq + firstSeq) as never, ackedBelow: (m.ackedBelow + firstSeq) as never }, true)
      : m

  return {
    clientId: inner.clientId,
    submit: (command, options) => {
      if (next - oldestPending() >= window) return undefined
      const seq = inner.submit(command, options)
      if (seq !== undefined) {
        pending.add(seq)
        next = seq + 1
      }
      return seq
    },
    step: (input) => {
      if (input._tag === "Receive" && input.envelope.message._tag === "Reply") {
        const m = input.envelope.message
        // an answer to a request of an earlier process of this client: not ours
        if (m.seq < firstSeq) return
        const reply = new Messages.Reply({ ...m, seq: (m.seq - firstSeq) as never }, true)
        return inner.step({ _tag: "Receive", envelope: { ...input.envelope, message: reply } })
      }
      inner.step(input)
    },
    hasReady: () => mapped !== undefined || inner.hasReady(),
    ready: () => {
      if (mapped === undefined) {
        const r = inner.ready()
        mapped = {
          ...r,
          send: r.send.map((o) => ({ to: o.to, message: outward(o.message) })),
          sendAfterPersist: r.sendAfterPersist.map((o) => ({ to: o.to, message: outward(o.message) }))
        }
      }
      return mapped
    },
    advance: () => {
      mapped = undefined
      inner.advance()
    },
    takeCompletions: () => {
      const done = inner.takeCompletions()
      for (const c of done) pending.delete(c.seq)
      return done
    },
    inFlight: () => inner.inFlight(),
    issued: () => next
  }
}
