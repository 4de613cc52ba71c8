import { defineProject } from "vitest/config"

/**
 * Per-package project settings. Workspace packages resolve to their TypeScript
 * sources through the "source" export condition (tests run in Vite's SSR
 * environment, which has its own condition list).
 */
export const project = (name: string) =>
  defineProject({
    resolve: { conditions: ["source", "import", "node", "default"] },
    ssr: { resolve: { conditions: ["source", "import", "node", "default"], externalConditions: ["source"] } },
    test: {
      name,
      include: ["test/**/*.test.ts"],
      testTimeout: 60_000,
      hookTimeout: 60_000
    }
  })
