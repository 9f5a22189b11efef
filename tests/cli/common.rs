//! Helpers for running the real vecar binary on real files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub use crate::data::gunzip;

/// The project's fixtures folder.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// The outcome of one run of vecar.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().expect("vecar was killed by a signal"),
            stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
        }
    }

    /// Asserts exit 0 and returns self.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "vecar failed: {}", self.stderr);
        self
    }

    /// Asserts exit 1 with `message` in stderr.
    #[track_caller]
    pub fn fails_with(&self, message: &str) {
        assert_eq!(self.code, 1, "expected failure, stderr: {}", self.stderr);
        assert!(
            self.stderr.contains(message),
            "expected {message:?} in {:?}",
            self.stderr
        );
    }

    /// The stdout lines parsed as JSON.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

/// Runs vecar with `args` and no stdin.
pub fn vecar(args: &[&str]) -> Run {
    vecar_with_stdin(args, b"")
}

/// Runs vecar with `args`, feeding `stdin`.
pub fn vecar_with_stdin(args: &[&str], stdin: &[u8]) -> Run {
    vecar_with_env(args, stdin, &[])
}

/// Runs vecar with `args` and the environment variables `env`, feeding `stdin`.
pub fn vecar_with_env(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vecar"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vecar starts");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let output = child.wait_with_output().expect("vecar runs");
    writer.join().expect("stdin writer");
    Run::from(output)
}

/// A temporary folder that is removed at the end of the test.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary folder")
}

/// Builds the fixture into `dir/name` with extra build flags, returning the archive's path.
pub fn build_fixture(dir: &Path, name: &str, flags: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let input = fixture("docs.jsonl");
    let mut args = vec!["build", input.to_str().unwrap(), "-o", out.to_str().unwrap()];
    args.extend_from_slice(flags);
    vecar(&args).ok();
    out
}

/// Path as &str.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// The CIDv1 (sha2-256) of `data` with `codec`, computed here independently of vecar.
pub fn cid_of(codec: u64, data: &[u8]) -> cid::Cid {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data);
    cid::Cid::new_v1(codec, cid::multihash::Multihash::wrap(0x12, &digest).unwrap())
}

/// Appends `n` as an unsigned LEB128 varint.
pub fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A CARv1 with `root` in its header and the given blocks, written by hand so tests can make
/// files vecar itself would never write.
pub fn car_bytes(root: &cid::Cid, blocks: &[(cid::Cid, Vec<u8>)]) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Header<'a> {
        roots: [&'a cid::Cid; 1],
        version: u64,
    }
    let header = serde_ipld_dagcbor::to_vec(&Header {
        roots: [root],
        version: 1,
    })
    .unwrap();
    let mut out = Vec::new();
    varint(header.len() as u64, &mut out);
    out.extend(header);
    for (cid, data) in blocks {
        let cid = cid.to_bytes();
        varint((cid.len() + data.len()) as u64, &mut out);
        out.extend(cid);
        out.extend(data);
    }
    out
}

/// A small deterministic pseudo-random generator (xorshift64) for reproducible trials.
pub fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The fixture's first `n` records without their vectors, written to `dir/texts.jsonl`; its path
/// and the records with their vectors.
pub fn texts_only(dir: &Path, n: usize) -> (PathBuf, Vec<serde_json::Value>) {
    let docs: Vec<serde_json::Value> = std::fs::read_to_string(fixture("docs.jsonl"))
        .unwrap()
        .lines()
        .take(n)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let lines: Vec<String> = docs
        .iter()
        .map(|d| {
            let mut d = d.clone();
            d.as_object_mut().unwrap().remove("vector");
            d.to_string()
        })
        .collect();
    let path = dir.join("texts.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    (path, docs)
}

/// Builds the fixture's first `n` records, their vectors left out, into `dir/name` with the
/// provider `flags`; the archive's path and the records with their vectors.
pub fn build_texts(dir: &Path, name: &str, n: usize, flags: &[&str]) -> (PathBuf, Vec<serde_json::Value>) {
    let (input, docs) = texts_only(dir, n);
    let car = dir.join(name);
    let mut args = vec!["build", s(&input), "-o", s(&car)];
    args.extend_from_slice(flags);
    vecar(&args).ok();
    (car, docs)
}

/// The archive at `path` with its manifest changed by `edit` and re-hashed (a new root), as a
/// CARv1.
pub fn with_edited_manifest(
    path: &Path,
    edit: impl Fn(&mut std::collections::BTreeMap<String, ipld_core::ipld::Ipld>),
) -> Vec<u8> {
    use ipld_core::ipld::Ipld;
    let car = vecar::archive::car::CarFile::open(path).unwrap();
    let mut blocks: Vec<_> = car
        .sections()
        .unwrap()
        .map(|(cid, _)| (*cid, car.block(cid).unwrap()))
        .collect();
    let root = blocks.iter().position(|(cid, _)| cid == car.root()).unwrap();
    let Ipld::Map(mut manifest) = serde_ipld_dagcbor::from_slice(&blocks[root].1).unwrap() else {
        panic!("the manifest is a map")
    };
    edit(&mut manifest);
    let bytes = serde_ipld_dagcbor::to_vec(&Ipld::Map(manifest)).unwrap();
    blocks[root] = (cid_of(0x71, &bytes), bytes);
    car_bytes(&blocks[root].0, &blocks)
}

/// The root CID of the archive at `car`, from `vecar info --json`.
pub fn root_of(car: &Path) -> String {
    vecar(&["info", "--json", s(car)]).ok().json_lines()[0]["root"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Asserts that `pulled` is a sound CARv2 with an index holding the same records as `original`.
#[track_caller]
pub fn assert_same_archive(pulled: &Path, original: &Path) {
    let verified = vecar(&["verify", s(pulled)]).ok();
    assert!(
        verified.stdout.contains("CARv2 with a block index"),
        "{}",
        verified.stdout
    );
    assert!(verified.stdout.contains(&root_of(original)), "{}", verified.stdout);
    assert_eq!(
        vecar(&["export", s(pulled)]).ok().stdout,
        vecar(&["export", s(original)]).ok().stdout
    );
}

/// Every kind of archive vecar writes: CARv2 and CARv1 from `build`, `add`, `rm` and `merge`.
pub fn every_kind_of_archive(dir: &Path) -> Vec<PathBuf> {
    let new_input = dir.join("new.jsonl");
    std::fs::write(
        &new_input,
        "{\"id\": \"new\", \"vector\": [0.5, 0.25], \"text\": \"added\"}\n",
    )
    .unwrap();
    let small = dir.join("small.jsonl");
    std::fs::write(&small, "{\"id\": 1, \"vector\": [1.5, -0.0], \"f\": 1.0}\n").unwrap();
    let mut cars = Vec::new();
    for (suffix, flags) in [("v2", &[][..]), ("v1", &["--car-v1"][..])] {
        let path = |name: &str| dir.join(format!("{name}-{suffix}.car"));
        let built = build_fixture(dir, &format!("built-{suffix}.car"), flags);
        let (added, removed, merged, small_car) = (path("added"), path("removed"), path("merged"), path("small"));
        vecar(&[&["build", s(&small), "-o", s(&small_car)], flags].concat()).ok();
        vecar(&[&["add", s(&small_car), s(&new_input), "-o", s(&added)], flags].concat()).ok();
        vecar(&[&["rm", s(&built), "doc-00000", "doc-09867", "-o", s(&removed)], flags].concat()).ok();
        vecar(&[&["merge", s(&removed), s(&built), "-o", s(&merged)], flags].concat()).ok();
        cars.extend([built, added, removed, merged]);
    }
    cars
}

/// The CIDs of an archive's blocks, sorted, from `vecar ls --json`.
pub fn block_cids(car: &Path) -> Vec<String> {
    let mut cids: Vec<String> = vecar(&["ls", "--json", s(car)])
        .ok()
        .json_lines()
        .iter()
        .map(|block| block["cid"].as_str().expect("a CID").to_string())
        .collect();
    cids.sort();
    cids
}
