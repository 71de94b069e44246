// Encodes texts with the Hugging Face reference tokenizer from npm: the ids a text model is fed in the reference
// runs of tests/e2e/test_text_model.py.
//
//   node tests/e2e/tok_ref.js TOKENIZER.json TEXTS.json OUT.json
//
// TEXTS.json: ["text", ...]. OUT.json: [{"input_ids", "attention_mask", "token_type_ids"}, ...] with the special
// tokens of the post-processor and tokenizer.json's truncation, as Transformers' pipelines feed a model.
// The package is `tokenizers` (the Rust binding) or the pure-JS `@huggingface/tokenizers`, looked up in
// $JUNCTION_TOKENIZERS_NODE (a package directory), else the checkout's .cache/tokenizers/node_modules (scripts/
// install-deps.sh --tokenizers). Exit status 3 when neither can be loaded, 1 on any other failure.
'use strict';
const fs = require('fs');
const path = require('path');

function candidates() {
  const base = path.join(__dirname, '..', '..', '.cache', 'tokenizers', 'node_modules');
  const c = [];
  if (process.env.JUNCTION_TOKENIZERS_NODE)
    c.push(process.env.JUNCTION_TOKENIZERS_NODE);
  c.push(path.join(base, 'tokenizers'), path.join(base, '@huggingface', 'tokenizers'));
  return c;
}

async function main() {
  const [tokPath, textsPath, outPath] = process.argv.slice(2);
  const json = fs.readFileSync(tokPath, 'utf8');
  const texts = JSON.parse(fs.readFileSync(textsPath, 'utf8'));
  let encode = null, which = null;
  const errors = [];
  for (const dir of candidates()) {
    let mod;
    try {
      mod = require(dir);
    } catch (e) {
      errors.push(`${dir}: ${e.message}`);
      continue;
    }
    which = dir;
    if (mod.Tokenizer && typeof mod.Tokenizer.fromString === 'function') { // the Rust binding
      const tk = mod.Tokenizer.fromString(json);
      encode = async (t) => {
        const e = await tk.encode(t);
        return {input_ids: e.getIds(), attention_mask: e.getAttentionMask(), token_type_ids: e.getTypeIds()};
      };
    } else { // @huggingface/tokenizers: new Tokenizer(tokenizerJson, tokenizerConfig)
      const tk = new mod.Tokenizer(JSON.parse(json), {});
      encode = async (t) => {
        const e = tk.encode(t);
        const ids = Array.from(e.ids);
        let types = e.token_type_ids ? Array.from(e.token_type_ids) : ids.map(() => 0);
        const mask = e.attention_mask ? Array.from(e.attention_mask) : ids.map(() => 1);
        return {input_ids: ids, attention_mask: mask, token_type_ids: types};
      };
    }
    break;
  }
  if (!encode) {
    process.stderr.write(`tok_ref: no reference tokenizer could be loaded:\n  ${errors.join('\n  ')}\n`);
    process.exit(3);
  }
  const out = [];
  for (const t of texts)
    out.push(await encode(t));
  fs.writeFileSync(outPath, JSON.stringify(out));
  console.log(JSON.stringify({texts: texts.length, reference: which}));
}

main().catch((e) => {
  process.stderr.write(`tok_ref: ${e.stack || e}\n`);
  process.exit(1);
});
