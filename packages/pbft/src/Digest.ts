/**
 * The digests PBFT agrees on. All are lower-case hex SHA-256 with a domain
 * prefix, so a digest of one kind can never be mistaken for another kind.
 */
import { Crypto } from "@synod/core"
import type { Digest as DigestType } from "./Messages.js"

export type Digest = DigestType

/** A request is identified by its exact signed frame (the client's signature included). */
export const requestDigest = (frame: Uint8Array): Digest => Crypto.sha256Hex("pbft/request/1|", frame) as Digest

/** The batch digest d of a pre-prepare: over the request digests, in batch order. */
export const batchDigest = (requestDigests: ReadonlyArray<string>): Digest =>
  Crypto.sha256Hex("pbft/batch/1|", String(requestDigests.length), "|", requestDigests.join(",")) as Digest

export const batchDigestOfFrames = (frames: ReadonlyArray<Uint8Array>): Digest => batchDigest(frames.map(requestDigest))

/** The digest of the empty batch: the paper's null request (fills gaps in a new view). */
export const NULL_DIGEST: Digest = batchDigest([])

/** `commandDigest` of Committed events: SHA-256 of the command bytes, no prefix (what checkers compare across protocols). */
export const commandDigest = (command: Uint8Array): string => Crypto.sha256Hex(command)

/**
 * The checkpoint digest: the state machine's own digest and the digest of the
 * last-reply table, which is part of the replicated state (exactly-once).
 */
export const checkpointDigest = (stateMachineDigest: string, replyTableDigest: string): Digest =>
  Crypto.sha256Hex("pbft/checkpoint/1|", stateMachineDigest, "|", replyTableDigest) as Digest
