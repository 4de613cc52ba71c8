/**
 * The demo's terminal: on a TTY, a block of lines redrawn in place at the
 * bottom with event lines scrolling above it; otherwise every line is simply
 * printed (the caller prints a periodic summary line instead of frames).
 */
import { Effect } from "effect"
import type { Terminal } from "../Terminal.js"

export class Screen {
  private drawn = 0

  constructor(private readonly term: Terminal) {}

  get live(): boolean {
    return this.term.tty
  }

  /** Erase the block drawn last (terminal only). */
  private erase(): string {
    return this.drawn > 0 ? `\x1b[${this.drawn}F\x1b[J` : ""
  }

  /** Replace the live block with `lines`. */
  frame(lines: ReadonlyArray<string>): Effect.Effect<void> {
    if (!this.term.tty) return Effect.void
    return Effect.suspend(() => {
      const text = this.erase() + lines.map((l) => `${l}\x1b[K\n`).join("")
      this.drawn = lines.length
      return this.term.raw(text)
    })
  }

  /** Print a line above the live block (or just print it). */
  line(text: string): Effect.Effect<void> {
    if (!this.term.tty) return this.term.out(text)
    return Effect.suspend(() => {
      const out = this.erase() + text + "\n"
      this.drawn = 0
      return this.term.raw(out)
    })
  }

  /** Leave the live block on screen as it is and print below it from now on. */
  release(): void {
    this.drawn = 0
  }
}
