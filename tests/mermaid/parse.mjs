// Parses Mermaid files (the arguments; stdin when none) with Mermaid's own parser, headless under jsdom.
// Why: GitHub renders the PR comment's diagram with Mermaid; a block it can't parse shows as an error box.
// Prints "ok <diagram type>" or "error: <message>" per input, in order; exits 1 when any input fails.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");

const inputs = process.argv.length > 2 ? process.argv.slice(2) : [0];
let failed = false;
for (const input of inputs) {
  try {
    const result = await mermaid.parse(readFileSync(input, "utf8"));
    console.log(`ok ${result.diagramType}`);
  } catch (error) {
    failed = true;
    console.log(`error: ${String(error.message ?? error).split("\n").slice(0, 4).join(" | ")}`);
  }
}
process.exit(failed ? 1 : 0);
