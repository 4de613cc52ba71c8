/**
 * The genesis file of a ledger cluster: who may mint, and the accounts that
 * exist from the start. Every replica loads the same file; the ledger state
 * machine is built from it (`makeLedger`), so a replica with another genesis
 * computes other state digests and cannot agree with the rest.
 *
 * Format (JSON, UTF-8, at most `MAX_GENESIS_FILE_BYTES`):
 *
 *   {
 *     "format": "synod-ledger-genesis/1",
 *     "minters": ["<base64url raw Ed25519 public key>"],
 *     "accounts": [{ "name": "alice", "owner": "<base64url public key>", "balance": "1000" }]
 *   }
 *
 * Balances are integers in minor units, as decimal strings.
 */
import { Either, ParseResult, Schema } from "effect"
import { AccountName, PublicKey } from "./Commands.js"
import { type Genesis, genesisProblems } from "./Ledger.js"

export const GENESIS_FILE_FORMAT = "synod-ledger-genesis/1"
export const GENESIS_FILE_NAME = "genesis.json"
export const MAX_GENESIS_FILE_BYTES = 4 * 1024 * 1024
/** Most accounts a genesis may list (the file stays small and quick to load). */
export const MAX_GENESIS_ACCOUNTS = 10_000
export const MAX_MINTERS = 64

export const GenesisFile = Schema.Struct({
  format: Schema.Literal(GENESIS_FILE_FORMAT),
  minters: Schema.Array(PublicKey).pipe(Schema.maxItems(MAX_MINTERS)),
  accounts: Schema.Array(Schema.Struct({ name: AccountName, owner: PublicKey, balance: Schema.BigInt })).pipe(
    Schema.maxItems(MAX_GENESIS_ACCOUNTS)
  )
})
export type GenesisFile = typeof GenesisFile.Type

const decodeFile = Schema.decodeUnknownEither(GenesisFile, { errors: "first", onExcessProperty: "error" })
const encodeFile = Schema.encodeSync(GenesisFile)

export const encode = (genesis: Genesis): string =>
  JSON.stringify(
    encodeFile({
      format: GENESIS_FILE_FORMAT,
      minters: genesis.minters.map((m) => PublicKey.make(m)),
      accounts: (genesis.accounts ?? []).map((a) => ({ name: AccountName.make(a.name), owner: PublicKey.make(a.owner), balance: a.balance }))
    }),
    null,
    2
  ) + "\n"

/** Parse and check a genesis file's text; the error is one readable sentence. */
export const decode = (text: string): Either.Either<Genesis, string> => {
  if (text.length > MAX_GENESIS_FILE_BYTES) return Either.left(`larger than ${MAX_GENESIS_FILE_BYTES} bytes`)
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    return Either.left(`not JSON: ${String(e).slice(0, 120)}`)
  }
  const format = (json as { format?: unknown } | null)?.format
  if (format !== GENESIS_FILE_FORMAT) return Either.left(`format ${JSON.stringify(format) ?? "missing"}, expected ${GENESIS_FILE_FORMAT}`)
  return Either.flatMap(
    Either.mapLeft(decodeFile(json), (e) => ParseResult.TreeFormatter.formatErrorSync(e).slice(0, 400)),
    (file): Either.Either<Genesis, string> => {
      const genesis: Genesis = { minters: file.minters, accounts: file.accounts }
      const problems = genesisProblems(genesis)
      return problems.length > 0 ? Either.left(problems.join("; ")) : Either.right(genesis)
    }
  )
}

/** Total of the genesis balances: the supply before any mint. */
export const initialSupply = (genesis: Genesis): bigint => (genesis.accounts ?? []).reduce((sum, a) => sum + a.balance, 0n)
