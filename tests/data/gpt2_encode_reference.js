// The outside reference for headlab's GPT-2 tokenizer: the npm package gpt-3-encoder's own encoder.
// usage: node gpt2_encode_reference.js PACKAGE_DIR STRINGS.json OUT.json
// STRINGS.json is a JSON array of strings; OUT.json gets one array of ids per string.
const fs = require('fs');
const path = require('path');
const encoder = require(path.resolve(process.argv[2], 'Encoder.js'));
const texts = JSON.parse(fs.readFileSync(process.argv[3], 'utf-8'));
fs.writeFileSync(process.argv[4], JSON.stringify(texts.map((t) => encoder.encode(t))));
