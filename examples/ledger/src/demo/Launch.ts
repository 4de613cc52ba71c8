/**
 * How the demo starts `synod-ledger` processes. Loading the CLI through tsx
 * costs each process a second or two of CPU (hundreds of modules through the
 * loader hooks), which the demo would pay for four replicas and a restart
 * while they compete with each other. So it first bundles the CLI once, with
 * esbuild (which tsx itself uses), into its own directory: a replica then
 * starts in a fraction of a second. Native and optional packages stay
 * external, imported by absolute path so the bundle can live anywhere. If
 * bundling is impossible, the processes run through tsx as usual.
 */
import { Effect } from "effect"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url))
/** Packages that must not be bundled: a native addon, and ws's optional native helpers. */
const EXTERNAL = ["better-sqlite3", "bufferutil", "utf-8-validate"]

export interface Launcher {
  /** Node arguments that run `synod-ledger` (the CLI's own arguments follow). */
  readonly nodeArgs: ReadonlyArray<string>
  /** "bundle" or "tsx", for the header line. */
  readonly mode: "bundle" | "tsx"
}

const viaTsx = (): Launcher => ({ nodeArgs: ["--conditions=source", "--import", import.meta.resolve("tsx"), MAIN], mode: "tsx" })

/** Bundle the CLI into `dir`; fall back to tsx when esbuild is not available or fails. */
export const prepare = (dir: string): Effect.Effect<Launcher> =>
  Effect.promise(async (): Promise<Launcher> => {
    try {
      const esbuild = await import("esbuild")
      const require = createRequire(MAIN)
      const outfile = path.join(dir, "synod-ledger.mjs")
      try {
        await build(esbuild, require, outfile)
      } finally {
        // esbuild runs as a child process; stop it once the bundle is written
        await esbuild.stop()
      }
      return { nodeArgs: [outfile], mode: "bundle" }
    } catch {
      return viaTsx()
    }
  })

const build = (esbuild: typeof import("esbuild"), require: NodeJS.Require, outfile: string) =>
  esbuild.build({
    entryPoints: [MAIN],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    conditions: ["source"],
    outfile,
    logLevel: "silent",
    // bundled CommonJS code calls require(); give the ESM bundle one
    banner: { js: "import { createRequire as __synodCreateRequire } from 'node:module'; const require = __synodCreateRequire(import.meta.url);" },
    plugins: [{
      name: "absolute-externals",
      setup: (build) => {
        build.onResolve({ filter: new RegExp(`^(${EXTERNAL.join("|")})$`) }, (args) => {
          try {
            return { path: pathToFileURL(require.resolve(args.path)).href, external: true }
          } catch {
            // an optional package that is not installed: its importer copes with its absence
            return { path: args.path, external: true }
          }
        })
      }
    }]
  })
