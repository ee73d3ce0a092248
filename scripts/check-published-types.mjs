#!/usr/bin/env node
/**
 * Checks that every package's published declarations match its published JavaScript: run after
 * `pnpm build` (the root `build` script does).
 *
 * For each entry of each package's `exports`, the entry is imported from `dist` and its
 * declarations are loaded the way a user's TypeScript loads them (the package's own name, export
 * conditions `types`/`import`, no "source" condition). Then, one level into namespaces
 * (`Invoice.PaymentState`):
 *
 * - every value the JavaScript exports must be declared, as a value (not type-only);
 * - every value the declarations promise must exist in the JavaScript.
 *
 * The declarations must also load without errors. Exits 1 with one line per mismatch.
 */
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import ts from "typescript"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const options = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  customConditions: [],
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  types: ["node"]
}

/** Whether an alias (re-export or import) is declared `type`-only. */
const typeOnlyAlias = (symbol) =>
  (symbol.declarations ?? []).some(
    (d) =>
      ((ts.isExportSpecifier(d) || ts.isImportSpecifier(d)) && (d.isTypeOnly || d.parent.parent.isTypeOnly)) ||
      (ts.isImportClause(d) && d.isTypeOnly) ||
      (ts.isNamespaceImport(d) && d.parent.isTypeOnly)
  )

/** Follows aliases to the declared symbol, noting whether any step was type-only. */
const resolveAlias = (checker, symbol) => {
  let typeOnly = false
  let current = symbol
  while (current.flags & ts.SymbolFlags.Alias) {
    if (typeOnlyAlias(current)) typeOnly = true
    const next = checker.getImmediateAliasedSymbol(current)
    if (next === undefined || next === current) break
    current = next
  }
  return { symbol: current, typeOnly }
}

/** The exports of a module symbol: name → { value (usable as a value), members (its exports, if a namespace) }. */
const declaredExports = (checker, moduleSymbol, depth) => {
  const out = new Map()
  for (const exported of checker.getExportsOfModule(moduleSymbol)) {
    const { symbol, typeOnly } = resolveAlias(checker, exported)
    const value = !typeOnly && (symbol.flags & ts.SymbolFlags.Value) !== 0
    const isModule = (symbol.flags & ts.SymbolFlags.ValueModule) !== 0
    out.set(exported.name, {
      value,
      members: depth > 0 && value && isModule ? declaredExports(checker, symbol, depth - 1) : undefined
    })
  }
  return out
}

/** Compares a runtime module with its declarations; pushes one line per mismatch. */
const compare = (where, runtime, declared, problems) => {
  for (const name of Object.keys(runtime)) {
    const d = declared.get(name)
    if (d === undefined) problems.push(`${where}.${name}: exported by the JavaScript, not declared`)
    else if (!d.value) problems.push(`${where}.${name}: a value in the JavaScript, declared as a type only`)
    // A namespace: tsup bundles `export * as X` as a plain object of getters.
    else if (d.members !== undefined && typeof runtime[name] === "object" && runtime[name] !== null) {
      compare(`${where}.${name}`, runtime[name], d.members, problems)
    }
  }
  for (const [name, d] of declared) {
    if (d.value && !(name in runtime)) problems.push(`${where}.${name}: declared as a value, missing from the JavaScript`)
  }
}

/**
 * What an entry exports at runtime. A `testing` entry imports its test runner (vitest), which
 * refuses to load outside a run: its names are read from the module's `export { ... }`
 * statements instead, top level only.
 */
const runtimeExports = async (path) => {
  try {
    return await import(pathToFileURL(path).href)
  } catch (cause) {
    // tsup writes its exports as `export { a as B, ... }` (and `... from "./chunk.js"`) statements.
    const lists = [...readFileSync(path, "utf8").matchAll(/^export\s*\{([^}]*)\}/gm)]
    if (lists.length === 0) throw new Error(`cannot import ${path}, and it has no export list`, { cause })
    const names = lists
      .flatMap((m) => m[1].split(","))
      .map((s) => s.trim())
      .filter((s) => s.length > 0)
      .map((s) => s.split(/\s+as\s+/).pop())
    return Object.fromEntries(names.map((name) => [name, undefined]))
  }
}

// One virtual file per package, inside it, importing its entries by the package's own name
// (self-reference), so the declarations resolve through `exports` exactly as they do for a user.
const packages = []
for (const dir of readdirSync(join(root, "packages")).sort()) {
  const packageDir = join(root, "packages", dir)
  const manifest = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"))
  const entries = Object.entries(manifest.exports ?? {})
    .filter(([, target]) => target !== null && typeof target === "object" && typeof target.import === "string")
    .map(([subpath, target]) => ({ specifier: manifest.name + subpath.slice(1), subpath, js: join(packageDir, target.import) }))
  if (entries.length === 0) continue
  const file = join(packageDir, "__published_types__.ts")
  const source = entries.map((e, i) => `export * as E${i} from ${JSON.stringify(e.specifier)}`).join("\n")
  packages.push({ name: manifest.name, file, source, entries })
}
const virtual = new Map(packages.map((p) => [p.file, p.source]))
const host = ts.createCompilerHost(options)
const { fileExists, getSourceFile, readFile } = host
host.fileExists = (f) => virtual.has(f) || fileExists.call(host, f)
host.readFile = (f) => virtual.get(f) ?? readFile.call(host, f)
host.getSourceFile = (f, language, ...rest) =>
  virtual.has(f) ? ts.createSourceFile(f, virtual.get(f), language) : getSourceFile.call(host, f, language, ...rest)
const program = ts.createProgram([...virtual.keys()], options, host)
const checker = program.getTypeChecker()

const problems = []
for (const d of ts.getPreEmitDiagnostics(program)) {
  const where = d.file === undefined ? "" : `${d.file.fileName.replace(root + "/", "")}: `
  problems.push(`${where}${ts.flattenDiagnosticMessageText(d.messageText, " ")}`)
}
let checked = 0
for (const { entries, file } of packages) {
  const statements = program.getSourceFile(file).statements
  for (const [i, entry] of entries.entries()) {
    const moduleSymbol = checker.getSymbolAtLocation(statements[i].moduleSpecifier)
    if (moduleSymbol === undefined) {
      problems.push(`${entry.specifier}: no declarations found (is "types" of "${entry.subpath}" built?)`)
      continue
    }
    compare(entry.specifier, await runtimeExports(entry.js), declaredExports(checker, moduleSymbol, 1), problems)
    checked++
  }
}
if (problems.length > 0) {
  console.error(`published types do not match the JavaScript (${problems.length}):`)
  for (const p of problems) console.error(`  ${p}`)
  process.exit(1)
}
console.log(`published types match the JavaScript: ${checked} entry points`)
