// Bundles web/src into internal/web/static/dist with content-hashed names,
// writes manifest.json (entry name -> hashed file) for the Go server, and
// prints each bundle's gzipped size against its budget. The pages' bundle
// (app.js, style.css) is on every page; the GraphiQL page (graphiql.js,
// graphiql.css) and the REST reference (apidocs.js, apidocs.css) are big
// and have entry points of their own, loaded on those pages only.
import * as esbuild from "esbuild";
import { gzipSync } from "node:zlib";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "internal", "web", "static", "dist");
// Gzipped budgets by entry and extension.
const budgets = {
  app: { ".js": 120 * 1024 },
  style: { ".css": 30 * 1024 },
  // graphiql.css carries its fonts inline (woff2, from the package).
  graphiql: { ".js": 600 * 1024, ".css": 300 * 1024 },
  apidocs: { ".js": 600 * 1024, ".css": 40 * 1024 },
};
const entries = { app: "src/app.js", style: "src/app.css", graphiql: "src/graphiql.js", apidocs: "src/apidocs.js" };
const entryName = Object.fromEntries(Object.entries(entries).map(([k, v]) => [v, k]));

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: entries,
  outdir: out,
  entryNames: "[name]-[hash]",
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  metafile: true,
  legalComments: "none",
  define: { "process.env.NODE_ENV": '"production"' },
  // Fonts and images the packages' styles name are inlined: every page
  // loads only what the manifest lists.
  loader: { ".woff": "dataurl", ".woff2": "dataurl", ".ttf": "dataurl", ".svg": "dataurl", ".png": "dataurl" },
  logLevel: "warning",
});

const manifest = {};
let over = false;
// An entry's output, and the style sheet esbuild writes beside a script
// entry that imports CSS (its cssBundle), are named by the entry.
const files = [];
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
  if (!meta.entryPoint) continue;
  const entry = entryName[meta.entryPoint];
  files.push([entry, file]);
  if (meta.cssBundle) files.push([entry, meta.cssBundle]);
}
for (const [entry, file] of files) {
  const name = basename(file);
  const ext = name.slice(name.lastIndexOf("."));
  const logical = entry + ext;
  manifest[logical] = name;
  const raw = readFileSync(join(here, file));
  const gz = gzipSync(raw, { level: 9 }).length;
  const budget = budgets[entry]?.[ext];
  if (budget === undefined) {
    console.error(`${name}: no budget for ${logical}`);
    process.exit(1);
  }
  const ok = gz <= budget;
  over ||= !ok;
  console.log(`${name}: ${(raw.length / 1024).toFixed(1)} KB, ${(gz / 1024).toFixed(1)} KB gzipped (budget ${budget / 1024} KB)${ok ? "" : "  OVER BUDGET"}`);
}
writeFileSync(join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
if (over) {
  console.error("a bundle is over its gzipped budget");
  process.exit(1);
}
