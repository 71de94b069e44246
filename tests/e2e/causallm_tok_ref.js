// causallm_tok_ref.js — the Hugging Face reference tokenizer for test_causallm.py: the `tokenizers` npm package (the
// Rust library's Node binding, .cache/tokenizers from scripts/install-deps.sh --tokenizers) encodes the prompts and
// decodes ONNX Runtime's generated ids.
//
//   node causallm_tok_ref.js TOKENIZER.json IN.json
//     IN: {"encode": ["text", ...], "decode": [[ids...], ...]}
//     prints {"ids": [[...] per text (special tokens as the post-processor adds them)],
//             "texts": ["..." per id list, special tokens skipped]}
//
// The package is looked up through NODE_PATH, else the checkout's .cache/tokenizers/node_modules. Exit status 3 when
// it cannot be loaded, 1 on any other failure.
'use strict';
const fs = require('fs');
const path = require('path');

function load() {
  try {
    return require('tokenizers');
  } catch (e) {
    try {
      return require(path.join(__dirname, '..', '..', '.cache', 'tokenizers', 'node_modules', 'tokenizers'));
    } catch (e2) {
      process.stderr.write(`causallm_tok_ref: cannot load the tokenizers npm package: ${e2.message}\n`);
      process.exit(3);
    }
  }
}

async function main() {
  const [file, inFile] = process.argv.slice(2);
  const tk = load();
  const t = tk.Tokenizer.fromFile(file);
  const req = JSON.parse(fs.readFileSync(inFile, 'utf8'));
  const out = {ids: [], texts: []};
  for (const text of req.encode || []) out.ids.push((await t.encode(text)).getIds());
  for (const ids of req.decode || []) out.texts.push(await t.decode(ids, true));
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(`causallm_tok_ref: ${e.stack || e}\n`);
  process.exit(1);
});
