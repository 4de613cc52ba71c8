/**
 * The ledger's commands, results and errors, as Schemas: they cross the wire
 * inside PBFT requests and come back inside signed replies.
 *
 * Amounts are integers in minor units (`bigint`, encoded as decimal strings),
 * never floats. Accounts are named by the client; each is owned by an Ed25519
 * public key (raw 32 bytes, base64url). Every command that moves or creates
 * money carries the owner's (or minter's) signature over `signingBytes`, and
 * every replica checks it deterministically inside `apply`: a client cannot
 * move another owner's funds, and a Byzantine replica cannot forge a transfer.
 */
import { Schema } from "effect"

/** Largest amount in one command: 2^63 - 1 minor units. */
export const MAX_AMOUNT = 2n ** 63n - 1n

export const AccountName = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9._-]{1,64}$/), Schema.brand("AccountName"))
export type AccountName = typeof AccountName.Type

/** A client-chosen id making a transfer or mint idempotent. */
export const OperationId = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9._:-]{1,128}$/), Schema.brand("OperationId"))
export type OperationId = typeof OperationId.Type

/** Raw Ed25519 public key, base64url (43 chars). */
export const PublicKey = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{43}$/), Schema.brand("PublicKey"))
export type PublicKey = typeof PublicKey.Type

/** Ed25519 signature, base64url (86 chars). */
export const Signature = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{86}$/), Schema.brand("Signature"))
export type Signature = typeof Signature.Type

export const Amount = Schema.BigInt.pipe(
  Schema.greaterThanBigInt(0n),
  Schema.lessThanOrEqualToBigInt(MAX_AMOUNT),
  Schema.brand("Amount")
)
export type Amount = typeof Amount.Type

export class OpenAccount extends Schema.TaggedClass<OpenAccount>()("OpenAccount", {
  account: AccountName,
  owner: PublicKey,
  /** The owner's signature: proves possession of the key, so nobody opens an account in another's name. */
  signature: Signature
}) {}

export class Mint extends Schema.TaggedClass<Mint>()("Mint", {
  id: OperationId,
  to: AccountName,
  amount: Amount,
  minter: PublicKey,
  signature: Signature
}) {}

export class Transfer extends Schema.TaggedClass<Transfer>()("Transfer", {
  id: OperationId,
  from: AccountName,
  to: AccountName,
  amount: Amount,
  signature: Signature
}) {}

export class GetBalance extends Schema.TaggedClass<GetBalance>()("GetBalance", {
  account: AccountName
}) {}

export class GetHistory extends Schema.TaggedClass<GetHistory>()("GetHistory", {
  account: AccountName,
  /** Most recent entries to return; at most HISTORY_LIMIT. */
  limit: Schema.Int.pipe(Schema.between(1, 1000))
}) {}

/** Whole-ledger totals, for audits and the demo's final table. */
export class GetTotals extends Schema.TaggedClass<GetTotals>()("GetTotals", {}) {}

export const Command = Schema.Union(OpenAccount, Mint, Transfer, GetBalance, GetHistory, GetTotals)
export type Command = typeof Command.Type

// ---- errors: results, not crashes -------------------------------------------------------

export class UnknownAccount extends Schema.TaggedError<UnknownAccount>()("UnknownAccount", {
  account: Schema.String
}) {}
export class AccountExists extends Schema.TaggedError<AccountExists>()("AccountExists", {
  account: Schema.String
}) {}
export class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
  account: Schema.String,
  balance: Schema.BigInt,
  amount: Schema.BigInt
}) {}
export class NotOwner extends Schema.TaggedError<NotOwner>()("NotOwner", {
  account: Schema.String
}) {}
export class NotMinter extends Schema.TaggedError<NotMinter>()("NotMinter", {
  minter: Schema.String
}) {}
export class BadSignature extends Schema.TaggedError<BadSignature>()("BadSignature", {
  detail: Schema.String
}) {}
/** The operation id was used before for a different operation. */
export class DuplicateId extends Schema.TaggedError<DuplicateId>()("DuplicateId", {
  id: Schema.String
}) {}
export class SameAccount extends Schema.TaggedError<SameAccount>()("SameAccount", {
  account: Schema.String
}) {}
export class Overflow extends Schema.TaggedError<Overflow>()("Overflow", {
  account: Schema.String
}) {}
/** The command bytes did not decode (a faulty or malicious client); every replica answers the same. */
export class BadCommand extends Schema.TaggedError<BadCommand>()("BadCommand", {
  detail: Schema.String
}) {}

export const LedgerError = Schema.Union(
  UnknownAccount,
  AccountExists,
  InsufficientFunds,
  NotOwner,
  NotMinter,
  BadSignature,
  DuplicateId,
  SameAccount,
  Overflow,
  BadCommand
)
export type LedgerError = typeof LedgerError.Type

// ---- results ---------------------------------------------------------------------------

export class HistoryEntry extends Schema.Class<HistoryEntry>("HistoryEntry")({
  /** Log position that executed it: the same on every replica. */
  index: Schema.Int,
  id: Schema.String,
  kind: Schema.Literal("mint", "debit", "credit"),
  counterparty: Schema.String,
  amount: Schema.BigInt,
  balanceAfter: Schema.BigInt
}) {}

export class Opened extends Schema.TaggedClass<Opened>()("Opened", { account: AccountName }) {}
export class Applied extends Schema.TaggedClass<Applied>()("Applied", {
  id: Schema.String,
  /** Balance of the debited (transfer) or credited (mint) account after the operation. */
  balance: Schema.BigInt,
  /** True when this id had already been applied and this is the original outcome. */
  replayed: Schema.Boolean
}) {}
export class Balance extends Schema.TaggedClass<Balance>()("Balance", {
  account: Schema.String,
  owner: Schema.String,
  balance: Schema.BigInt
}) {}
export class History extends Schema.TaggedClass<History>()("History", {
  account: Schema.String,
  entries: Schema.Array(HistoryEntry)
}) {}
export class Totals extends Schema.TaggedClass<Totals>()("Totals", {
  accounts: Schema.Int,
  supply: Schema.BigInt,
  minted: Schema.BigInt,
  operations: Schema.Int
}) {}
export class Failed extends Schema.TaggedClass<Failed>()("Failed", { error: LedgerError }) {}

export const Result = Schema.Union(Opened, Applied, Balance, History, Totals, Failed)
export type Result = typeof Result.Type
