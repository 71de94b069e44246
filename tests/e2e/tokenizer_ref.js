// tokenizer_ref.js — the Hugging Face reference for test_tokenizer.py and bench/transformers.sh: the `tokenizers`
// npm package (the Rust library's Node binding, from scripts/install-deps.sh in .cache/tokenizers; NODE_PATH).
//
//   node tokenizer_ref.js train CORPUS.txt OUTDIR      trains wordpiece/, bpe/, unigram/ tokenizer.json in OUTDIR
//   node tokenizer_ref.js encode TOKENIZER.json BATCHES.json OUT.json
//        BATCHES: [{"texts": [...], "add_special_tokens": bool}, ...]
//        OUT:     [{"ids": [[...]], "attention_mask": [[...]], "type_ids": [[...]],
//                   "decoded": [[skip_special=true, skip_special=false], ...]}, ...]  (rows padded as tokenizer.json
//                   says; decoded from each row's unpadded ids)
//   node tokenizer_ref.js bench TOKENIZER.json STRINGS.json ROUNDS   prints {"strings_per_s": x, "tokens": n}
//
// Training uses the library's default trainers on the corpus; the tests then complete the saved files the way real
// exports look (special tokens in the vocabulary, a template post-processor, padding, truncation, decoders, the
// full byte-level alphabet), and both sides read the same completed file.
'use strict';
const fs = require('fs');
const path = require('path');
const tk = require('tokenizers');

function completeWordPiece(j) {
  const vocab = j.model.vocab;
  let next = Object.keys(vocab).length;
  const specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const ids = {};
  for (const s of specials) {
    if (!(s in vocab)) vocab[s] = next++;
    ids[s] = vocab[s];
  }
  j.added_tokens = specials.map((s) => ({id: ids[s], content: s, single_word: false, lstrip: false, rstrip: false,
    normalized: false, special: true}));
  const sp = (s, t) => ({SpecialToken: {id: s, type_id: t}});
  const sq = (s, t) => ({Sequence: {id: s, type_id: t}});
  j.post_processor = {type: 'TemplateProcessing', single: [sp('[CLS]', 0), sq('A', 0), sp('[SEP]', 0)],
    pair: [sp('[CLS]', 0), sq('A', 0), sp('[SEP]', 0), sq('B', 1), sp('[SEP]', 1)],
    special_tokens: {'[CLS]': {id: '[CLS]', ids: [ids['[CLS]']], tokens: ['[CLS]']},
      '[SEP]': {id: '[SEP]', ids: [ids['[SEP]']], tokens: ['[SEP]']}}};
  j.decoder = {type: 'WordPiece', prefix: '##', cleanup: true};
  j.padding = {strategy: 'BatchLongest', direction: 'Right', pad_to_multiple_of: null, pad_id: ids['[PAD]'],
    pad_type_id: 0, pad_token: '[PAD]'};
  j.truncation = {direction: 'Right', max_length: 128, strategy: 'LongestFirst', stride: 0};
}

function completeBpe(j) {
  const vocab = j.model.vocab;
  let next = Object.keys(vocab).length;
  for (const c of tk.byteLevelAlphabet()) if (!(c in vocab)) vocab[c] = next++;
  const eot = '<|endoftext|>';
  vocab[eot] = next++;
  j.added_tokens = [{id: vocab[eot], content: eot, single_word: false, lstrip: false, rstrip: false, normalized: false,
    special: true}];
  j.post_processor = {type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true};
  j.decoder = {type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true};
  // GPT-style: padded on the left with <|endoftext|>
  j.padding = {strategy: 'BatchLongest', direction: 'Left', pad_to_multiple_of: null, pad_id: vocab[eot],
    pad_type_id: 0, pad_token: eot};
}

function completeUnigram(j) {
  const v = j.model.vocab;
  const min = Math.min(...v.map((p) => p[1]));
  v.push(['<unk>', min - 1]);
  j.model.unk_id = v.length - 1;
  const specials = ['<pad>', '</s>'];
  for (const s of specials) v.push([s, 0.0]);
  const id = (s) => v.findIndex((p) => p[0] === s);
  j.added_tokens = ['<unk>', ...specials].map((s) => ({id: id(s), content: s, single_word: false, lstrip: false,
    rstrip: false, normalized: false, special: true}));
  j.normalizer = {type: 'Sequence', normalizers: [{type: 'NFKC'}, {type: 'Replace', pattern: {Regex: ' {2,}'},
    content: ' '}, {type: 'Strip', strip_left: false, strip_right: true}]};
  j.post_processor = {type: 'TemplateProcessing', single: [{Sequence: {id: 'A', type_id: 0}},
    {SpecialToken: {id: '</s>', type_id: 0}}], pair: [{Sequence: {id: 'A', type_id: 0}},
    {SpecialToken: {id: '</s>', type_id: 0}}, {Sequence: {id: 'B', type_id: 0}}, {SpecialToken: {id: '</s>',
      type_id: 0}}], special_tokens: {'</s>': {id: '</s>', ids: [id('</s>')], tokens: ['</s>']}}};
  j.decoder = {type: 'Metaspace', replacement: '\u2581', add_prefix_space: true};
}

function train(corpus, outdir) {
  const kinds = {
    wordpiece: () => {
      const t = new tk.Tokenizer(tk.WordPiece.init({}, {unkToken: '[UNK]'}));
      t.setNormalizer(tk.bertNormalizer({cleanText: true, handleChineseChars: true, lowercase: true}));
      t.setPreTokenizer(tk.bertPreTokenizer());
      return [t, completeWordPiece];
    },
    bpe: () => {
      const t = new tk.Tokenizer(tk.BPE.empty());
      t.setPreTokenizer(tk.byteLevelPreTokenizer(false, true));
      return [t, completeBpe];
    },
    unigram: () => {
      const t = new tk.Tokenizer(tk.Unigram.empty());
      t.setNormalizer(tk.nfkcNormalizer());
      t.setPreTokenizer(tk.metaspacePreTokenizer('\u2581', true));
      return [t, completeUnigram];
    },
  };
  for (const [name, make] of Object.entries(kinds)) {
    const [t, complete] = make();
    t.train([corpus]);
    const dir = path.join(outdir, name);
    fs.mkdirSync(dir, {recursive: true});
    const file = path.join(dir, 'tokenizer.json');
    t.save(file);
    const j = JSON.parse(fs.readFileSync(file, 'utf8'));
    complete(j);
    fs.writeFileSync(file, JSON.stringify(j));
    tk.Tokenizer.fromFile(file); // the completed file must load in the reference too
  }
}

async function encode(file, batchesFile, outFile) {
  const t = tk.Tokenizer.fromFile(file);
  const batches = JSON.parse(fs.readFileSync(batchesFile, 'utf8'));
  const out = [];
  for (const b of batches) {
    const encs = await t.encodeBatch(b.texts, {addSpecialTokens: b.add_special_tokens});
    const r = {ids: [], attention_mask: [], type_ids: [], decoded: []};
    for (const e of encs) {
      const ids = e.getIds(), mask = e.getAttentionMask();
      r.ids.push(ids);
      r.attention_mask.push(mask);
      r.type_ids.push(e.getTypeIds());
      const real = ids.filter((_, i) => mask[i] === 1);
      r.decoded.push([await t.decode(real, true), await t.decode(real, false)]);
    }
    out.push(r);
  }
  fs.writeFileSync(outFile, JSON.stringify(out));
}

async function bench(file, stringsFile, rounds) {
  const t = tk.Tokenizer.fromFile(file);
  t.disablePadding();
  const strings = JSON.parse(fs.readFileSync(stringsFile, 'utf8'));
  let tokens = 0;
  const batch = 64;
  const run = async () => {
    let n = 0;
    for (let i = 0; i < strings.length; i += batch) {
      const encs = await t.encodeBatch(strings.slice(i, i + batch));
      for (const e of encs) n += e.getIds().length;
    }
    return n;
  };
  await run(); // warm-up
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) tokens = await run();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({strings_per_s: (strings.length * rounds) / s, tokens, seconds: s}));
}

const [cmd, ...args] = process.argv.slice(2);
const run = {train: async () => train(...args), encode: () => encode(...args),
  bench: () => bench(args[0], args[1], Number(args[2] || 3))}[cmd];
if (!run) {
  console.error('usage: tokenizer_ref.js train|encode|bench ...');
  process.exit(2);
}
run().catch((e) => {
  console.error(e);
  process.exit(1);
});
