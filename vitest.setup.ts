/**
 * Lets each test worker's event loop turn between tests. Vitest's worker reports to the runner
 * over an RPC with a fixed 60 s reply timeout (birpc's default, not configurable in vitest 3);
 * the reply is read in the poll phase, and Node runs the timers phase first, so a worker that
 * runs synchronous or microtask-only work (fast-check properties, Effects that never wait on
 * I/O) for 60 s straight fails the run with `Timeout calling "onTaskUpdate"` although every test
 * passed. Between tests vitest itself only awaits promises: without this, a whole file of such
 * tests counts as one stretch. Long single tests breathe inside too (`setImmediate` per run).
 */
import { beforeEach } from "vitest"

beforeEach(() => new Promise<void>((resolve) => setImmediate(resolve)))
