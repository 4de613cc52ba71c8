/**
 * Building signed ledger commands on the client side: an owner's or minter's
 * Ed25519 key signs exactly the bytes `Authorization` defines.
 */
import type * as crypto from "node:crypto"
import { Crypto } from "@synod/core"
import { encodeKey, mintSigningBytes, openSigningBytes, sign, transferSigningBytes } from "./Authorization.js"
import { AccountName, Amount, Mint, OpenAccount, OperationId, PublicKey, Signature, Transfer } from "./Commands.js"

export interface Wallet {
  readonly publicKey: PublicKey
  open(account: string): OpenAccount
  transfer(id: string, from: string, to: string, amount: bigint): Transfer
  mint(id: string, to: string, amount: bigint): Mint
}

export const makeWallet = (keys: { readonly publicKey: crypto.KeyObject; readonly privateKey: crypto.KeyObject }): Wallet => {
  const publicKey = PublicKey.make(encodeKey(Crypto.rawPublicKey(keys.publicKey)))
  const signed = (bytes: Uint8Array) => Signature.make(sign(keys.privateKey, bytes))
  return {
    publicKey,
    open: (account) => {
      const fields = { account: AccountName.make(account), owner: publicKey }
      return new OpenAccount({ ...fields, signature: signed(openSigningBytes(fields)) })
    },
    transfer: (id, from, to, amount) => {
      const fields = { id: OperationId.make(id), from: AccountName.make(from), to: AccountName.make(to), amount: Amount.make(amount) }
      return new Transfer({ ...fields, signature: signed(transferSigningBytes(fields)) })
    },
    mint: (id, to, amount) => {
      const fields = { id: OperationId.make(id), to: AccountName.make(to), amount: Amount.make(amount), minter: publicKey }
      return new Mint({ ...fields, signature: signed(mintSigningBytes(fields)) })
    }
  }
}
