//! The link node decoders.

use super::*;
use crate::cids::cid_for;

/// The links of a node as the generic decoder reads them, with their starts.
fn generic(data: &[u8]) -> Vec<(Cid, u64, u64)> {
    let mut out = Vec::new();
    for (cid, count) in decode_dag_cbor::<Vec<(Cid, u64)>>(data).unwrap() {
        push_link(&mut out, cid, count);
    }
    out.into_iter().map(|c| (c.cid, c.start, c.count)).collect()
}

#[test]
fn the_fast_link_decoder_reads_what_the_generic_one_reads() {
    // Counts at every CBOR head width, both codecs.
    let counts = [1u64, 23, 24, 255, 256, 65_535, 65_536, 1 << 32, u64::MAX >> 8];
    let links: Vec<(Cid, u64)> = counts
        .iter()
        .enumerate()
        .map(|(i, &n)| (cid_for(if i % 2 == 0 { RAW } else { DAG_CBOR }, &[i as u8]), n))
        .collect();
    let node = Block::dag_cbor(&links).unwrap().data;
    let mut fast = Vec::new();
    assert!(decode_links(&node, &mut fast));
    let fast: Vec<_> = fast.into_iter().map(|c| (c.cid, c.start, c.count)).collect();
    assert_eq!(fast, generic(&node));

    // Anything else is left to the generic decoder: a count in more bytes than it needs,
    // a trailing byte, a CID of another hash, a cut node.
    let mut long = Block::dag_cbor(&[(cid_for(RAW, b"x"), 1u64)]).unwrap().data;
    assert_eq!(long.pop(), Some(1));
    long.extend([0x18, 1]);
    let mut trailing = node.clone();
    trailing.push(0);
    let other_hash = Block::dag_cbor(&[(Cid::new_v1(RAW, Multihash::wrap(0x13, &[0; 64]).unwrap()), 1u64)])
        .unwrap()
        .data;
    for data in [&long[..], &trailing, &other_hash, &node[..node.len() - 1]] {
        let mut out = vec![];
        assert!(!decode_links(data, &mut out));
    }
    let mut out = Vec::new();
    decode_node(&other_hash, &mut out).unwrap();
    assert_eq!(out.len(), 1);
    assert!(decode_node(&trailing, &mut out).is_err());
}

#[test]
fn leaves_take_their_own_number_of_links_and_the_levels_above_the_most() {
    let chunks: Vec<(Cid, u64)> = (0..1000u32).map(|i| (cid_for(RAW, &i.to_le_bytes()), 16)).collect();
    let (nodes, collection) = build(&chunks, 4, 16).unwrap();
    // 250 leaves of 4 chunks, 16 nodes of 16 leaves (the last of 10), a root of 16.
    assert_eq!((collection.height, nodes.len()), (3, 1 + 16 + 250));
    let links = |node: &Block| decode_dag_cbor::<Vec<(Cid, u64)>>(&node.data).unwrap();
    assert_eq!(links(&nodes[0]).len(), 16);
    assert_eq!(links(&nodes[1]).iter().map(|l| l.1).collect::<Vec<_>>(), vec![64; 16]);
    assert!(nodes[17..].iter().all(|leaf| links(leaf).len() == 4));
    assert_eq!((collection.chunks, collection.items), (1000, 16_000));
}
