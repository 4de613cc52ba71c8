export * as Authorization from "./Authorization.js"
export * from "./Commands.js"
export * from "./Ledger.js"
export * from "./Wallet.js"
