/** A FIFO queue with O(1) amortized `shift` (Array.prototype.shift is O(n)). */
export class Fifo<A> {
  private items: Array<A> = []
  private head = 0

  get length(): number {
    return this.items.length - this.head
  }

  push(a: A): void {
    this.items.push(a)
  }

  peek(): A | undefined {
    return this.items[this.head]
  }

  shift(): A | undefined {
    if (this.head >= this.items.length) return undefined
    const a = this.items[this.head]
    this.items[this.head++] = undefined as A
    // compact once the consumed prefix dominates, so memory stays proportional to the length
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return a
  }

  clear(): void {
    this.items = []
    this.head = 0
  }
}
