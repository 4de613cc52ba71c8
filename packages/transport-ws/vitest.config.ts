import { configDefaults, mergeConfig } from "vitest/config"
import { project } from "../../vitest.shared.js"

/**
 * `test/multiprocess.test.ts` starts real replica processes (Paxos and PBFT
 * clusters, kills, restarts, a 10,000-frame fuzz of a replica process): tens
 * of seconds on a quiet machine, minutes on a loaded one. It runs only with
 * SYNOD_SLOW=1, e.g. `SYNOD_SLOW=1 npx vitest run --project transport-ws multiprocess`.
 */
const slow = process.env.SYNOD_SLOW === "1"

export default mergeConfig(project("transport-ws"), {
  test: { exclude: slow ? [...configDefaults.exclude] : [...configDefaults.exclude, "test/multiprocess.test.ts"] }
})
