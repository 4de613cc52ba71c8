/**
 * The history format and the linearizability checker of @synod/core/testing.
 * They are not yet re-exported by the package's `testing` entry point, so
 * this module reaches them by path; it is the one place to change when they are.
 */
export * as History from "../../../../packages/core/src/testing/History.js"
export * as Linearizability from "../../../../packages/core/src/testing/Linearizability.js"
