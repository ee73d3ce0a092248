/** The packages (`"core"` → `packages/core`) whose build is missing or older than their sources. */
export declare const staleBuilds: (names: ReadonlyArray<string>) => Array<string>
