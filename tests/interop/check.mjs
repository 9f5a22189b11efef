// Independent interop check for vecar's CAR files.
//
// vecar writes IPLD CAR archives (CARv2 with a block index by default, CARv1 with --car-v1) from
// Rust. This script re-reads them with the reference JavaScript implementations (@ipld/car,
// @ipld/dag-cbor, multiformats) and shares no code with vecar, so a pass shows that another
// implementation accepts the files. For each file it requires:
//   - a CAR v1 or v2 header with exactly one root;
//   - for CARv2: an index after the blocks, in the MultihashIndexSorted form of the CARv2 spec
//     (parsed here from the spec, since @ipld/car does not read indexes), sorted, listing every
//     block exactly once at the offset of its section (found by @ipld/car's CarIndexer) in the
//     inner CARv1, and a data size that ends where the last block ends;
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
import { open, stat } from 'node:fs/promises'
import { CarBlockIterator, CarIndexer } from '@ipld/car'
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

// Reads `length` bytes of `file` from `position`.
async function readAt (file, position, length) {
  const fd = await open(file)
  try {
    const buf = Buffer.alloc(length)
    const { bytesRead } = await fd.read(buf, 0, length, position)
    if (bytesRead !== length) throw new Error(`file ends before byte ${position + length}`)
    return buf
  } finally { await fd.close() }
}

// Checks a CARv2's index against its blocks; returns the number of entries.
async function checkIndex (file, fileSize) {
  const header = await readAt(file, 11, 40) // after the 11-byte pragma
  const dataOffset = header.readBigUInt64LE(16)
  const dataSize = header.readBigUInt64LE(24)
  const indexOffset = Number(header.readBigUInt64LE(32))
  if (indexOffset === 0) throw new Error('CARv2 without an index')
  const index = await readAt(file, indexOffset, fileSize - indexOffset)
  if (index[0] !== 0x81 || index[1] !== 0x08) throw new Error('CARv2 index is not MultihashIndexSorted (0x0401)')
  const entries = new Map() // "multihash code:digest hex" -> section offset in the inner CARv1
  let pos = 2
  const codes = index.readInt32LE(pos); pos += 4
  for (let c = 0; c < codes; c++) {
    const code = index.readBigUInt64LE(pos); pos += 8
    const widths = index.readInt32LE(pos); pos += 4
    for (let w = 0; w < widths; w++) {
      const width = index.readUInt32LE(pos); pos += 4
      const length = Number(index.readBigInt64LE(pos)); pos += 8
      let previous = null
      for (let e = pos; e < pos + length; e += width) {
        const digest = index.subarray(e, e + width - 8)
        if (previous && Buffer.compare(previous, digest) >= 0) throw new Error('CARv2 index is not sorted')
        previous = digest
        entries.set(`${code}:${digest.toString('hex')}`, index.readBigUInt64LE(e + width - 8))
      }
      pos += length
    }
  }
  if (pos !== index.length) throw new Error(`CARv2 index: ${index.length - pos} bytes after its entries`)
  let blocks = 0
  let end = dataOffset
  for await (const { cid, offset, blockOffset, blockLength } of await CarIndexer.fromIterable(createReadStream(file))) {
    const listed = entries.get(`${cid.multihash.code}:${Buffer.from(cid.multihash.digest).toString('hex')}`)
    if (listed !== BigInt(offset) - dataOffset) {
      throw new Error(`block ${cid}: the CARv2 index says offset ${listed}, its section is at ${BigInt(offset) - dataOffset}`)
    }
    blocks++
    end = BigInt(blockOffset + blockLength)
  }
  if (entries.size !== blocks) throw new Error(`CARv2 index lists ${entries.size} blocks, the file holds ${blocks}`)
  if (end !== dataOffset + dataSize) throw new Error(`CARv2 data size ${dataSize}, but the blocks end at ${end - dataOffset}`)
  return blocks
}

async function check (file) {
  const car = await CarBlockIterator.fromIterable(createReadStream(file))
  if (car.version !== 1 && car.version !== 2) throw new Error(`CAR version ${car.version}, expected 1 or 2`)
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
  const { size } = await stat(file)
  const indexed = car.version === 2 ? await checkIndex(file, size) : 0
  return { root, version: car.version, indexed, ...stats }
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
