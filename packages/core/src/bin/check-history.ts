/**
 * Checks key-value history files (`shared/history-format.md`) for
 * linearizability:
 *
 *   npm run check-history -- <file>... [--max-steps <n>]
 *
 * Prints `linearizable`, or `not linearizable` with a minimal witness (the
 * operations with their lines, clients and times), per file; with several
 * files each verdict is prefixed by the file name.
 *
 * Exit status: 0 every file is linearizable; 1 some file is not; 2 some file
 * is missing or unreadable (the message names the line), or the arguments are
 * wrong; 3 the search budget ran out on some file before a verdict. With
 * several files the first of 2, 1, 3 that applies to any of them wins.
 */
import * as Either from "effect/Either"
import { readFileSync } from "node:fs"
import { parseHistory } from "../testing/History.js"
import { type CheckOptions, checkHistory, formatCheckResult } from "../testing/Linearizability.js"

const USAGE = "usage: check-history <file>... [--max-steps <n>]"

const EXIT = { linearizable: 0, notLinearizable: 1, unreadable: 2, inconclusive: 3 } as const

/** The status of one file; prints its verdict or error. */
const checkFile = (path: string, options: CheckOptions, prefix: string): number => {
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch (e) {
    process.stderr.write(`${path}: cannot read: ${(e as Error).message}\n`)
    return EXIT.unreadable
  }
  const parsed = parseHistory(text)
  if (Either.isLeft(parsed)) {
    process.stderr.write(`${path}: ${parsed.left.message}\n`)
    return EXIT.unreadable
  }
  const result = checkHistory(parsed.right, options)
  process.stdout.write(`${prefix}${formatCheckResult(result)}\n`)
  switch (result._tag) {
    case "Linearizable":
      return EXIT.linearizable
    case "NotLinearizable":
      return EXIT.notLinearizable
    case "Inconclusive":
      return EXIT.inconclusive
  }
}

const parseArguments = (args: ReadonlyArray<string>): { files: Array<string>; options: CheckOptions } | string => {
  const files: Array<string> = []
  let maxSteps: number | undefined
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === "--max-steps") {
      const value = Number(args[++i])
      if (!Number.isSafeInteger(value) || value <= 0) return "--max-steps needs a positive integer"
      maxSteps = value
    } else if (arg === "--help" || arg === "-h") {
      return ""
    } else if (arg.startsWith("--")) {
      return `unknown option ${arg}`
    } else {
      files.push(arg)
    }
  }
  if (files.length === 0) return "no history file given"
  return { files, options: maxSteps === undefined ? {} : { maxSteps } }
}

const main = (args: ReadonlyArray<string>): number => {
  const parsed = parseArguments(args)
  if (typeof parsed === "string") {
    process.stderr.write(parsed === "" ? `${USAGE}\n` : `${parsed}\n${USAGE}\n`)
    return parsed === "" ? 0 : EXIT.unreadable
  }
  const statuses = parsed.files.map((file) =>
    checkFile(file, parsed.options, parsed.files.length > 1 ? `${file}: ` : "")
  )
  for (const status of [EXIT.unreadable, EXIT.notLinearizable, EXIT.inconclusive]) {
    if (statuses.includes(status)) return status
  }
  return EXIT.linearizable
}

process.exitCode = main(process.argv.slice(2))
