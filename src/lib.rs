//! vecar's library, used by the `vecar` binary (src/main.rs, src/cmd/) and by the fuzz targets
//! (fuzz/). docs/ARCHITECTURE.md draws the map.
//!
//! Layers, top to bottom. A module imports only from its own layer's module and from layers
//! below it, never from above or from beside it (the test at the end of this file checks):
//!
//! - `cmd/`, `main.rs` (the binary): parse the command line (clap lives only there), call one
//!   operation, print.
//! - [`ops`]: the operations that join the layers below — build, update, search, verify.
//! - [`archive`] (CAR files, blocks and their sources, the manifest, the chunked collections;
//!   the index is opaque bytes to it), [`index`] (usearch, filters and scoring over the
//!   [`index::search::Store`] trait), [`embed`] (text to vectors): none imports another.
//! - Leaves, which any layer may use and which import only each other: [`params`] (the settings
//!   an archive records), [`input`] (JSONL parsing), [`output`] (writing files and JSON lines),
//!   [`progress`], [`http`] (the one HTTP client: timeouts, retries, error wording), [`json`] (strict JSON lines),
//!   [`cids`] (the sha2-256 CIDv1 of bytes, for blocks and model weights).

pub mod archive;
pub mod cids;
pub mod embed;
pub mod http;
pub mod index;
pub mod input;
pub mod json;
pub mod ops;
pub mod output;
pub mod params;
pub mod progress;

#[cfg(test)]
mod layers {
    use std::path::Path;

    /// The layer of a top-level module: 0 for the leaves, 1 for archive, index and embed, 2 for
    /// ops. `None` for a name that is not a module of this crate.
    fn layer(module: &str) -> Option<u8> {
        match module {
            "params" | "input" | "json" | "output" | "progress" | "http" | "cids" => Some(0),
            "archive" | "index" | "embed" => Some(1),
            "ops" => Some(2),
            _ => None,
        }
    }

    /// The `crate::` paths in `text` (code of a file in `module`) that the layers forbid: to a
    /// layer above, or to another module of the same layer (leaves excepted), or to clap.
    fn violations(module: &str, text: &str) -> Vec<String> {
        let own = layer(module).expect("a known module");
        let mut found = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if line.contains("clap::") {
                found.push(format!("line {}: clap outside cmd/: {}", n + 1, line.trim()));
            }
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let target: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                let Some(theirs) = layer(&target) else { continue };
                let allowed = target == module || theirs < own || (own == 0 && theirs == 0);
                if !allowed {
                    found.push(format!("line {}: {module} imports {target}: {}", n + 1, line.trim()));
                }
            }
        }
        found
    }

    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn no_module_imports_from_above_or_beside_it() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut broken = Vec::new();
        for file in &files {
            let relative = file.strip_prefix(&src).expect("under src/");
            let top = relative
                .components()
                .next()
                .expect("a name")
                .as_os_str()
                .to_string_lossy();
            let module = top.trim_end_matches(".rs");
            if matches!(module, "lib" | "main" | "cmd") {
                continue;
            }
            let text = std::fs::read_to_string(file).expect("readable");
            broken.extend(
                violations(module, &text)
                    .into_iter()
                    .map(|v| format!("{}: {v}", relative.display())),
            );
        }
        assert!(
            files.len() > 40,
            "found only {} files under {}",
            files.len(),
            src.display()
        );
        assert!(
            broken.is_empty(),
            "imports that break the layers (see src/lib.rs):\n{}",
            broken.join("\n")
        );
    }

    #[test]
    fn the_layer_check_catches_imports_up_and_sideways() {
        assert!(violations(
            "archive",
            "use crate::archive::block::Block;\nuse crate::input::Record;"
        )
        .is_empty());
        assert!(violations("ops", "use crate::index::hnsw;\n// use crate::ops::x").is_empty());
        assert_eq!(violations("archive", "use crate::index::hnsw::Hnsw;").len(), 1);
        assert_eq!(violations("index", "let a: crate::archive::read::Archive;").len(), 1);
        assert_eq!(violations("embed", "use crate::ops::build;").len(), 1);
        assert_eq!(violations("input", "use crate::archive::records::Record;").len(), 1);
        assert_eq!(violations("params", "#[derive(clap::ValueEnum)]").len(), 1);
    }
}
