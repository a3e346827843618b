// Bundles web/src into internal/web/static/dist with content-hashed names,
// writes manifest.json (entry name -> hashed file) for the Go server, and
// prints each bundle's gzipped size against its budget.
import * as esbuild from "esbuild";
import { gzipSync } from "node:zlib";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "internal", "web", "static", "dist");
const budgets = { ".js": 120 * 1024, ".css": 30 * 1024 };

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: { app: "src/app.js", style: "src/app.css" },
  outdir: out,
  entryNames: "[name]-[hash]",
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});

const manifest = {};
let over = false;
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
  if (!meta.entryPoint) continue;
  const name = basename(file);
  const ext = name.slice(name.lastIndexOf("."));
  const logical = (meta.entryPoint.endsWith(".css") ? "style" : "app") + ext;
  manifest[logical] = name;
  const raw = readFileSync(join(here, file));
  const gz = gzipSync(raw, { level: 9 }).length;
  const budget = budgets[ext];
  const ok = gz <= budget;
  over ||= !ok;
  console.log(`${name}: ${(raw.length / 1024).toFixed(1)} KB, ${(gz / 1024).toFixed(1)} KB gzipped (budget ${budget / 1024} KB)${ok ? "" : "  OVER BUDGET"}`);
}
writeFileSync(join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
if (over) {
  console.error("a bundle is over its gzipped budget");
  process.exit(1);
}
