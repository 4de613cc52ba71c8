export {}
export * from "./StateMachineSuite.js"
export * from "./StorageSuite.js"
export * from "./TransportSuite.js"
