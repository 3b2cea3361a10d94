// Parses Mermaid text (stdin) with Mermaid's own parser, headless under jsdom.
// Why: GitHub renders the PR comment's diagram with Mermaid; a block it can't
// parse shows as an error box. Exit 0 and "ok" when it parses, 1 with the error.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");

const text = readFileSync(0, "utf8");
try {
  const result = await mermaid.parse(text);
  console.log(`ok ${result.diagramType}`);
} catch (error) {
  console.error(String(error.message ?? error).split("\n").slice(0, 4).join("\n"));
  process.exit(1);
}
