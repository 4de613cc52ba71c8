/**
 * `npm run sim -- --protocol <paxos|pbft|reference> --seeds <N> [--seed <S>] ...`
 *
 * Runs the deterministic simulator over consecutive seeds and ends with one
 * summary line:
 *
 *   sim: protocol=pbft seeds=500 violations=0 stalled=0 commits=123456 deliveries=1041234 elapsed_s=81.2 cpu_s=60.3
 *
 * `violations` counts seeds with at least one checker violation, `stalled`
 * seeds whose liveness phase did not finish, `commits` the log positions
 * committed over all seeds, `deliveries` the frames delivered; `cpu_s` is the
 * CPU time of this process (on a shared machine, the figure to compare). Every failing seed is printed with its replay
 * command; the exit code is 1 if any seed failed, 2 on bad arguments.
 *
 * Protocols are loaded by name from the registry below (the real ones by
 * dynamic import, so this file does not depend on them at compile time): a
 * protocol package exports `simProtocol(options?)`. State machines likewise:
 * a package exports `simStateMachine()` returning `{ stateMachine, workload,
 * history? }` (`workload` a function giving a fresh `Workload` per run), and
 * one line in `stateMachines` names it.
 */
import type { StateMachine } from "@synod/core"
import { type Checkers, Kv, KvStateMachine, ReferenceProtocol, Simulator, type SimProtocol, Workload } from "@synod/core/testing"

type AnyStateMachine = StateMachine.AnyStateMachine

type AnyProtocol = SimProtocol<any>

/** A protocol package must export `simProtocol(options?)`. */
const fromPackage = (name: string) => async (): Promise<AnyProtocol> => {
  let mod: { readonly simProtocol?: unknown }
  try {
    mod = (await import(name)) as { readonly simProtocol?: unknown }
  } catch (e) {
    throw new Error(`cannot load ${name}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`)
  }
  if (typeof mod.simProtocol !== "function") throw new Error(`${name} does not export simProtocol(options?)`)
  return (mod.simProtocol as () => AnyProtocol)()
}

const protocols: Record<string, () => Promise<AnyProtocol>> = {
  paxos: fromPackage("@synod/paxos"),
  pbft: fromPackage("@synod/pbft"),
  reference: async () => ReferenceProtocol.simProtocol(),
  "reference-bft": async () => ReferenceProtocol.simProtocol({ faultModel: "byzantine" }),
  "reference-broken": async () => ReferenceProtocol.simProtocol({ broken: true })
}

interface StateMachineEntry {
  readonly stateMachine: AnyStateMachine
  /** A fresh workload per run: workloads keep state, and runs must not share it. */
  readonly workload: () => Workload.Workload
  /** Linearizability check of client histories, if the state machine has a model. */
  readonly history?: Checkers.HistoryCheck
}

const smFromPackage = (name: string) => async (): Promise<StateMachineEntry> => {
  let mod: { readonly simStateMachine?: unknown }
  try {
    mod = (await import(name)) as { readonly simStateMachine?: unknown }
  } catch (e) {
    throw new Error(`cannot load ${name}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`)
  }
  if (typeof mod.simStateMachine !== "function") throw new Error(`${name} does not export simStateMachine()`)
  return (mod.simStateMachine as () => StateMachineEntry)()
}

const stateMachines: Record<string, () => Promise<StateMachineEntry>> = {
  kv: async () => ({ stateMachine: KvStateMachine, workload: () => Workload.kv(), history: Kv.checkLinearizable }),
  ledger: smFromPackage("@synod/example-ledger")
}

const fail = (message: string, code: number): never => {
  console.error(`sim: ${message}`)
  process.exit(code)
}

const main = async () => {
  let args: Simulator.SimArgs
  try {
    args = Simulator.parseSimArgs(process.argv.slice(2))
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e), 2)
  }
  const loadProtocol = protocols[args.protocol] ?? fail(`unknown protocol ${args.protocol} (known: ${Object.keys(protocols).join(", ")})\n${Simulator.USAGE}`, 2)
  const smName = args.stateMachine ?? "kv"
  const loadSm = stateMachines[smName] ?? fail(`unknown state machine ${smName} (known: ${Object.keys(stateMachines).join(", ")})`, 2)
  let protocol: AnyProtocol
  let sm: StateMachineEntry
  try {
    protocol = await loadProtocol()
    sm = await loadSm()
  } catch (e) {
    return fail(e instanceof Error ? e.message : String(e), 2)
  }

  const started = performance.now()
  const cpuStart = process.cpuUsage()
  let violations = 0
  let stalled = 0
  let commits = 0
  let deliveries = 0
  let shown = 0
  let lastProgress = started
  for (let i = 0; i < args.seeds; i++) {
    const seed = args.seed + i
    let result: Simulator.SimResult
    try {
      const sim = Simulator.make(Simulator.fromArgs({ ...args, seed }, {
        protocol,
        stateMachine: sm.stateMachine,
        workload: sm.workload(),
        ...(sm.history !== undefined ? { history: sm.history } : {})
      }))
      result = sim.run()
    } catch (e) {
      return fail(`seed ${seed}: cannot start: ${e instanceof Error ? e.message : String(e)}`, 2)
    }
    commits += result.stats.commits
    deliveries += result.stats.deliveries
    if (result.violations.length > 0) violations++
    if (result.stalled !== undefined) stalled++
    if (!result.ok) {
      shown++
      if (shown <= 5) {
        console.log(`sim: FAILED seed=${seed} protocol=${protocol.name}`)
        for (const v of result.violations.slice(0, 5)) console.log(`  ${v.checker} (step ${v.step}): ${v.message.split("\n").join("\n    ")}`)
        if (result.stalled !== undefined) console.log(`  stalled: ${result.stalled}`)
        console.log(`  replay: ${result.replay}`)
      } else {
        console.log(`sim: FAILED seed=${seed}; replay: ${result.replay}`)
      }
    }
    const now = performance.now()
    if (now - lastProgress > 5000 || i === args.seeds - 1) {
      lastProgress = now
      const rate = deliveries / ((now - started) / 1000)
      const used = process.cpuUsage(cpuStart)
      // per CPU-second too: wall-clock rates mean little on a shared machine
      const cpuRate = deliveries / ((used.user + used.system) / 1e6)
      console.log(`sim: ${i + 1}/${args.seeds} seeds, failed=${violations + stalled}, commits=${commits}, deliveries/s=${rate.toFixed(0)} (per cpu-s ${cpuRate.toFixed(0)})`)
    }
  }
  const elapsed = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpuStart)
  const cpuSeconds = (cpu.user + cpu.system) / 1e6
  console.log(
    `sim: protocol=${protocol.name} seeds=${args.seeds} violations=${violations} stalled=${stalled} commits=${commits} ` +
      `deliveries=${deliveries} elapsed_s=${elapsed.toFixed(1)} cpu_s=${cpuSeconds.toFixed(1)}`
  )
  process.exit(violations + stalled > 0 ? 1 : 0)
}

void main()
