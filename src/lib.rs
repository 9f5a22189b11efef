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
//!   [`cids`] (the sha2-256 CIDv1 of bytes, for blocks and model weights), [`memory`] (big buffers
//!   in huge pages).
//!
//! Small modules: no file under `src/` over 400 lines and no function over 60, unless a comment
//! line at its top starting with `Long on purpose:` says why (a `//!` line of the file's, a
//! comment line just above the function); the second test at the end checks that too.

pub mod archive;
pub mod cids;
pub mod embed;
pub mod http;
pub mod index;
pub mod input;
pub mod json;
pub mod memory;
pub mod ops;
pub mod output;
pub mod params;
pub mod progress;

#[cfg(test)]
mod layers {
    use std::path::{Path, PathBuf};

    /// The layer of a top-level module: 0 for the leaves, 1 for archive, index and embed, 2 for
    /// ops. `None` for a name that is not a module of this crate.
    fn layer(module: &str) -> Option<u8> {
        match module {
            "params" | "input" | "json" | "output" | "progress" | "http" | "cids" | "memory" => Some(0),
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

    /// Lines a file under `src/` may have, and a function, unless a comment line at its top
    /// starting with [`REASON`] says why it is longer.
    const MAX_FILE_LINES: usize = 400;
    const MAX_FN_LINES: usize = 60;
    /// How a comment line giving that reason starts, after its `//`, `///` or `//!`.
    const REASON: &str = "Long on purpose:";

    /// Whether `line` is a comment line that gives the reason for a long file or function.
    fn gives_reason(line: &str) -> bool {
        let comment = line.trim_start().trim_start_matches('/').trim_start_matches('!');
        line.trim_start().starts_with("//") && comment.trim_start().starts_with(REASON)
    }

    /// The indentation of `line` when it starts a function (`fn`, after `pub`, `const` or
    /// `unsafe`), else `None`.
    fn fn_indent(line: &str) -> Option<&str> {
        let code = line.trim_start();
        let mut rest = code;
        for qualifier in ["pub(crate) ", "pub(super) ", "pub ", "const ", "async ", "unsafe "] {
            rest = rest.strip_prefix(qualifier).unwrap_or(rest);
        }
        rest.starts_with("fn ").then(|| &line[..line.len() - code.len()])
    }

    /// What in `text` (a file as rustfmt writes it) is too long without a reason: the file, or a
    /// function, from its `fn` line to the `}` at the same indentation; a function's reason is
    /// in the comment (and attribute) lines just above it, the file's in its `//!` lines.
    fn too_long(text: &str) -> Vec<String> {
        let lines: Vec<&str> = text.lines().collect();
        let mut found = Vec::new();
        let file_reason = lines.iter().any(|l| l.starts_with("//!") && gives_reason(l));
        if lines.len() > MAX_FILE_LINES && !file_reason {
            found.push(format!("{} lines, over {MAX_FILE_LINES}", lines.len()));
        }
        for (start, line) in lines.iter().enumerate() {
            let Some(indent) = fn_indent(line) else { continue };
            // The signature ends at `{` where a body follows, at `;` or `}` where none does.
            let Some(open) = lines[start..]
                .iter()
                .position(|l| l.trim_end().ends_with(['{', ';', '}']))
            else {
                continue;
            };
            let close = format!("{indent}}}");
            let body = &lines[start + open..];
            let end = body.iter().position(|l| *l == close);
            let (true, Some(end)) = (body[0].trim_end().ends_with('{'), end) else {
                continue;
            };
            let length = open + end + 1;
            let reason = lines[..start]
                .iter()
                .rev()
                .take_while(|l| l.trim_start().starts_with("//") || l.trim_start().starts_with("#["))
                .any(|l| gives_reason(l));
            if length > MAX_FN_LINES && !reason {
                found.push(format!(
                    "line {}: {length} lines, over {MAX_FN_LINES}: {}",
                    start + 1,
                    line.trim()
                ));
            }
        }
        found
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Every `.rs` file under `src/`: its path there and its text.
    fn src_files() -> Vec<(PathBuf, String)> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let files: Vec<_> = files
            .into_iter()
            .map(|file| {
                let text = std::fs::read_to_string(&file).expect("readable");
                (file.strip_prefix(&src).expect("under src/").to_path_buf(), text)
            })
            .collect();
        assert!(
            files.len() > 40,
            "found only {} files under {}",
            files.len(),
            src.display()
        );
        files
    }

    /// What `check` finds in each file under `src/`, each line prefixed with the file's path.
    fn findings(check: impl Fn(&Path, &str) -> Vec<String>) -> Vec<String> {
        let mut found = Vec::new();
        for (relative, text) in src_files() {
            found.extend(
                check(&relative, &text)
                    .into_iter()
                    .map(|f| format!("{}: {f}", relative.display())),
            );
        }
        found
    }

    #[test]
    fn no_module_imports_from_above_or_beside_it() {
        let broken = findings(|relative, text| {
            let top = relative
                .components()
                .next()
                .expect("a name")
                .as_os_str()
                .to_string_lossy();
            let module = top.trim_end_matches(".rs");
            if matches!(module, "lib" | "main" | "cmd") {
                return Vec::new();
            }
            violations(module, text)
        });
        assert!(
            broken.is_empty(),
            "imports that break the layers (see src/lib.rs):\n{}",
            broken.join("\n")
        );
    }

    #[test]
    fn no_file_or_function_is_long_without_a_reason() {
        let long = findings(|_, text| too_long(text));
        assert!(
            long.is_empty(),
            "too long, with no `{REASON}` comment saying why (see src/lib.rs):\n{}",
            long.join("\n")
        );
    }

    #[test]
    fn the_length_check_catches_long_files_and_functions() {
        let function = |lines: usize, above: &str| {
            let body = "    let x = 1;\n".repeat(lines - 2);
            format!("{above}pub(crate) fn f() -> u8 {{\n{body}}}\n")
        };
        assert!(too_long(&function(60, "")).is_empty());
        assert_eq!(too_long(&function(61, "/// Adds.\n#[inline]\n")).len(), 1);
        assert!(too_long(&function(61, "/// Adds.\n/// Long on purpose: one table.\n")).is_empty());
        assert_eq!(
            too_long(&format!("    {}", function(61, "").replace('\n', "\n    "))).len(),
            1
        );
        let where_clause = "fn f<T>()\nwhere\n    T: Copy,\n{\n";
        assert_eq!(
            too_long(&format!("{where_clause}{}}}\n", "    g();\n".repeat(57))).len(),
            1
        );
        assert!(too_long("fn f();\nfn g() {}\n").is_empty());
        let long_file = "// x\n".repeat(401);
        assert_eq!(too_long(&long_file).len(), 1);
        assert!(too_long(&format!("//! A table.\n//! Long on purpose: a table.\n{long_file}")).is_empty());
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
