/**
 * The one list of test projects. `vitest.config.ts` feeds it to `test.projects`
 * (Vitest 3.2 deprecates the workspace file as a config entry point, not as a list).
 */
export const projects = [
  "packages/core",
  "packages/paxos",
  "packages/pbft",
  "packages/transport-ws",
  "packages/storage-sqlite",
  "examples/*"
]

export default projects
