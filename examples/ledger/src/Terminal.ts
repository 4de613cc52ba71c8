/**
 * Where the CLI and the demo write: an `Output` service (stdout and stderr
 * lines, whether stdout is a terminal, whether to use colour), a process
 * layer and a capturing layer for tests, and a compact log format for the
 * long-running commands.
 *
 * Colour is used only on a terminal and never when NO_COLOR is set
 * (https://no-color.org) or FORCE_COLOR=0.
 */
import { Context, Effect, Layer, Logger, LogLevel } from "effect"

export interface Style {
  readonly bold: (s: string) => string
  readonly dim: (s: string) => string
  readonly red: (s: string) => string
  readonly green: (s: string) => string
  readonly yellow: (s: string) => string
  readonly cyan: (s: string) => string
  readonly magenta: (s: string) => string
}

const ansi = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`

export const colours: Style = {
  bold: ansi(1, 22),
  dim: ansi(2, 22),
  red: ansi(31, 39),
  green: ansi(32, 39),
  yellow: ansi(33, 39),
  cyan: ansi(36, 39),
  magenta: ansi(35, 39)
}

const id = (s: string) => s
export const plain: Style = { bold: id, dim: id, red: id, green: id, yellow: id, cyan: id, magenta: id }

/** Visible width of a string that may hold ANSI colour codes. */
export const visibleLength = (s: string): number => s.replace(/\x1b\[[0-9;]*m/g, "").length

export const padVisible = (s: string, width: number): string => s + " ".repeat(Math.max(0, width - visibleLength(s)))

export interface Terminal {
  readonly out: (line: string) => Effect.Effect<void>
  readonly err: (line: string) => Effect.Effect<void>
  /** Write raw text to stdout (no newline added): for redrawing in place. */
  readonly raw: (text: string) => Effect.Effect<void>
  /** stdout is an interactive terminal: live redraws are fine. */
  readonly tty: boolean
  readonly style: Style
}

export class Output extends Context.Tag("@synod/example-ledger/Output")<Output, Terminal>() {}

const wantsColour = (tty: boolean): boolean => {
  const env = process.env
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false
  if (env.FORCE_COLOR === "0") return false
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "") return true
  return tty
}

export const layerProcess: Layer.Layer<Output> = Layer.sync(Output, () => {
  const tty = process.stdout.isTTY === true
  return {
    out: (line) => Effect.sync(() => void process.stdout.write(line + "\n")),
    err: (line) => Effect.sync(() => void process.stderr.write(line + "\n")),
    raw: (text) => Effect.sync(() => void process.stdout.write(text)),
    tty,
    style: wantsColour(tty) ? colours : plain
  }
})

export interface Captured {
  readonly stdout: Array<string>
  readonly stderr: Array<string>
}

/** Collect output in memory (tests). Never a terminal, never coloured. */
export const capture = (): { readonly captured: Captured; readonly layer: Layer.Layer<Output> } => {
  const captured: Captured = { stdout: [], stderr: [] }
  return {
    captured,
    layer: Layer.succeed(Output, {
      out: (line) => Effect.sync(() => void captured.stdout.push(line)),
      err: (line) => Effect.sync(() => void captured.stderr.push(line)),
      raw: (text) => Effect.sync(() => void captured.stdout.push(text)),
      tty: false,
      style: plain
    })
  }
}

const levelWord = (level: LogLevel.LogLevel): string => level.label.padEnd(5)

/**
 * One line per log entry, `HH:MM:SS.mmm LEVEL message key=value ...`, on
 * stderr, for the long-running replica command (Effect's default logger is
 * noisier than a terminal needs). Debug and trace are dropped.
 */
export const compactLogger: Layer.Layer<never> = Logger.replace(
  Logger.defaultLogger,
  Logger.make(({ annotations, date, logLevel, message }) => {
    if (LogLevel.lessThan(logLevel, LogLevel.Info)) return
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    const extra: Array<string> = []
    for (const [k, v] of annotations) extra.push(`${k}=${String(v)}`)
    process.stderr.write(`${date.toISOString().slice(11, 23)} ${levelWord(logLevel)} ${text}${extra.length > 0 ? " " + extra.join(" ") : ""}\n`)
  })
)
