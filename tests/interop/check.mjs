// Independent interop check for vecar's CAR files.
//
// vecar writes IPLD CAR v1 archives from Rust. This script re-reads them with the reference
// JavaScript implementations (@ipld/car, @ipld/dag-cbor, multiformats) and shares no code with
// vecar, so a pass shows that another implementation accepts the files. For each file it requires:
//   - a CAR v1 header with exactly one root;
//   - every block: CIDv1, sha2-256 multihash (32-byte digest) that matches the re-hashed bytes,
//     codec raw (0x55) or dag-cbor (0x71), at most 1 MiB, and no CID seen twice;
//   - every dag-cbor block: decodes with @ipld/dag-cbor's strict decoder and re-encodes, under
//     @ipld/dag-cbor's own encode options, to the identical bytes (so it is canonical DAG-CBOR);
//   - every CID link inside dag-cbor blocks resolves to a block in the file, the root is in the
//     file, and every block is reachable from the root (no dangling links, no orphans).
//
// One detail: a JS number cannot tell the float64 1.0 (or -0.0) from the integer 1 (or 0), so a
// plain dagCbor.encode(dagCbor.decode(bytes)) rewrites such floats as integers. The canonical
// check therefore re-decodes through cborg (the CBOR engine @ipld/dag-cbor is built on) with
// dag-cbor's exported options, boxing every float so it re-encodes as the float64 it was.
//
// Usage: node tests/interop/check.mjs FILE.car [FILE.car ...]
// Prints one JSON line per file; exits 1 if any file failed.

import { createReadStream } from 'node:fs'
import { CarBlockIterator } from '@ipld/car'
import * as dagCbor from '@ipld/dag-cbor'
import * as cborg from 'cborg'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { equals } from 'multiformats/bytes'

const RAW = 0x55
const DAG_CBOR = 0x71
const MAX_BLOCK = 1048576

class Float64 { constructor (value) { this.value = value } }

// Decodes and re-encodes a DAG-CBOR block with dag-cbor's rules, keeping floats as floats.
function reencode (bytes) {
  const tokens = new cborg.Tokenizer(bytes, dagCbor.decodeOptions)
  const tokenizer = {
    done: () => tokens.done(),
    pos: () => tokens.pos(),
    next () {
      const t = tokens.next()
      const isFloat = cborg.Type.equals(t.type, cborg.Type.float) && typeof t.value === 'number'
      return isFloat ? new cborg.Token(cborg.Type.float, new Float64(t.value)) : t
    }
  }
  const value = cborg.decode(bytes, { ...dagCbor.decodeOptions, tokenizer })
  const { typeEncoders } = dagCbor.encodeOptions
  const encodeObject = (v, ...rest) =>
    v instanceof Float64 ? [new cborg.Token(cborg.Type.float, v.value)] : typeEncoders.Object(v, ...rest)
  return cborg.encode(value, { ...dagCbor.encodeOptions, typeEncoders: { ...typeEncoders, Object: encodeObject } })
}

// Every CID reachable inside a decoded DAG-CBOR value.
function collectLinks (value, out = []) {
  const cid = CID.asCID(value)
  if (cid) out.push(cid)
  else if (Array.isArray(value)) value.forEach((v) => collectLinks(v, out))
  else if (value && typeof value === 'object' && !(value instanceof Uint8Array)) {
    Object.values(value).forEach((v) => collectLinks(v, out))
  }
  return out
}

async function check (file) {
  const car = await CarBlockIterator.fromIterable(createReadStream(file))
  if (car.version !== 1) throw new Error(`CAR version ${car.version}, expected 1`)
  const roots = await car.getRoots()
  if (roots.length !== 1) throw new Error(`${roots.length} roots, expected exactly 1`)
  const root = roots[0].toString()

  const links = new Map() // block CID string -> CID strings it links to
  const stats = { blocks: 0, raw: 0, dagcbor: 0, bytes: 0, links: 0 }
  for await (const { cid, bytes } of car) {
    const id = cid.toString()
    if (cid.version !== 1) throw new Error(`block ${id}: CID version ${cid.version}, expected 1`)
    if (cid.multihash.code !== sha256.code || cid.multihash.digest.length !== 32) {
      throw new Error(`block ${id}: multihash is not a 32-byte sha2-256`)
    }
    if (!equals((await sha256.digest(bytes)).digest, cid.multihash.digest)) {
      throw new Error(`block ${id}: sha2-256 of its ${bytes.length} bytes does not match its CID (hash mismatch)`)
    }
    if (bytes.length > MAX_BLOCK) throw new Error(`block ${id}: ${bytes.length} bytes exceeds ${MAX_BLOCK}`)
    if (links.has(id)) throw new Error(`block ${id}: duplicate CID`)

    let out = []
    if (cid.code === DAG_CBOR) {
      let value
      try { value = dagCbor.decode(bytes) } catch (err) { throw new Error(`block ${id}: ${err.message}`) }
      if (!equals(reencode(bytes), bytes)) {
        throw new Error(`block ${id}: DAG-CBOR is not canonical (re-encoding changes the bytes)`)
      }
      out = collectLinks(value).map(String)
      stats.dagcbor++
    } else if (cid.code === RAW) {
      stats.raw++
    } else {
      throw new Error(`block ${id}: codec 0x${cid.code.toString(16)}, expected raw or dag-cbor`)
    }
    links.set(id, out)
    stats.blocks++
    stats.bytes += bytes.length
    stats.links += out.length
  }

  for (const [id, out] of links) {
    const missing = out.find((l) => !links.has(l))
    if (missing) throw new Error(`block ${id}: dangling link to ${missing}, not in the file`)
  }
  if (!links.has(root)) throw new Error(`root ${root} is not in the file`)
  const seen = new Set([root])
  const todo = [root]
  while (todo.length) {
    for (const l of links.get(todo.pop())) if (!seen.has(l)) { seen.add(l); todo.push(l) }
  }
  const orphan = [...links.keys()].find((id) => !seen.has(id))
  if (orphan) throw new Error(`block ${orphan}: orphan, not reachable from the root`)
  return { root, ...stats }
}

if (process.argv.length < 3) {
  console.error('usage: node tests/interop/check.mjs FILE.car [FILE.car ...]')
  process.exit(2)
}
let failed = false
for (const file of process.argv.slice(2)) {
  try {
    console.log(JSON.stringify({ file, ok: true, ...(await check(file)) }))
  } catch (err) {
    failed = true
    console.log(JSON.stringify({ file, ok: false, error: err?.message ?? String(err) }))
  }
}
process.exitCode = failed ? 1 : 0
