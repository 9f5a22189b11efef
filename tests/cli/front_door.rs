//! The conventions a new user expects of a command-line tool: completions, a man page, a quiet
//! flag, exit codes, several archives per command, and mistakes caught as usage errors.

use std::fs::File;
use std::process::{Command, Stdio};

use crate::common::*;

/// Runs vecar with stdout going to /dev/full (a disk that is always full).
fn into_full_stdout(args: &[&str]) -> (i32, String) {
    into_file(args, std::path::Path::new("/dev/full"))
}

/// Runs vecar with stdout going to the file `path`: its exit code and stderr.
fn into_file(args: &[&str], path: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vecar"))
        .args(args)
        .stdout(File::create(path).expect("a file for stdout"))
        .stderr(Stdio::piped())
        .output()
        .expect("vecar runs");
    (
        out.status.code().expect("an exit code"),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn completions_for_every_shell_and_a_man_page() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = vecar(&["completions", shell]).ok();
        assert!(run.stdout.contains("vecar"), "{shell}: {}", run.stdout);
        assert!(run.stdout.contains("verify"), "{shell} completes the commands");
    }
    let bash = vecar(&["completions", "bash"]).ok().stdout;
    assert!(bash.contains("--ids-from"), "options of the commands are completed");
    assert_eq!(vecar(&["completions", "tcsh"]).code, 2);
    let man = vecar(&["man"]).ok().stdout;
    assert!(man.starts_with(".ie") || man.contains(".TH vecar 1"), "{man}");
    assert!(man.contains(".TH vecar 1"));
    assert!(man.contains("completions"), "the man page lists the commands");
}

#[test]
fn quiet_prints_nothing_but_errors() {
    let dir = tempdir();
    let out = dir.path().join("q.car");
    let docs = fixture("docs.jsonl");
    let run = vecar(&["build", s(&docs), "-o", s(&out), "-q"]).ok();
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""));
    assert!(out.exists());
    let piped = dir.path().join("piped.car");
    assert_eq!(
        into_file(&["build", s(&docs), "-o", "-", "--quiet"], &piped),
        (0, String::new())
    );
    let loud = vecar(&["build", s(&docs), "-o", s(&out)]).ok();
    assert!(loud.stderr.contains("wrote"), "{}", loud.stderr);
    // Sizes read as people write them: "673,928 bytes of blocks", not "673928".
    let size = loud
        .stderr
        .split(" bytes of blocks")
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap();
    assert!(
        size.contains(',') && size.replace(',', "").parse::<u64>().is_ok(),
        "{}",
        loud.stderr
    );
    let failed = vecar(&["build", s(&dir.path().join("none.jsonl")), "-o", s(&out), "-q"]);
    assert_eq!(failed.code, 1);
    assert!(
        failed.stderr.contains("none.jsonl"),
        "errors still show: {}",
        failed.stderr
    );
}

#[test]
fn build_to_stdout_names_the_root_on_stderr() {
    let dir = tempdir();
    let car = dir.path().join("out.car");
    let docs = fixture("docs.jsonl");
    let (code, stderr) = into_file(&["build", s(&docs), "-o", "-", "--threads", "1"], &car);
    assert_eq!(code, 0, "{stderr}");
    let root = vecar(&["root", s(&car)]).ok().stdout;
    let root = root.trim();
    assert!(root.starts_with("bafy"), "{root}");
    assert!(stderr.contains(&format!("root {root}")), "{stderr}");
}

#[test]
fn root_info_and_verify_take_several_archives() {
    let dir = tempdir();
    let a = build_fixture(dir.path(), "a.car", &["--threads", "1"]);
    let b = build_fixture(dir.path(), "b.car", &["--threads", "1", "--metric", "ip"]);
    let roots = vecar(&["root", s(&a), s(&b)]).ok().stdout;
    let roots: Vec<&str> = roots.lines().collect();
    let info_a = vecar(&["info", s(&a), "--json"]).ok().json_lines();
    let info_b = vecar(&["info", s(&b), "--json"]).ok().json_lines();
    assert_eq!(
        roots,
        [info_a[0]["root"].as_str().unwrap(), info_b[0]["root"].as_str().unwrap()]
    );
    assert_ne!(roots[0], roots[1]);
    assert!(info_a[0].get("file").is_none(), "one archive: no file field");

    let both = vecar(&["info", s(&a), s(&b), "--json"]).ok().json_lines();
    assert_eq!(both.len(), 2);
    assert_eq!(both[1]["file"], s(&b));
    assert_eq!(both[1]["metric"], "ip");
    let text = vecar(&["info", s(&a), s(&b)]).ok().stdout;
    assert_eq!(text.matches("root ").count(), 2, "{text}");

    let verified = vecar(&["verify", s(&a), s(&b)]).ok().stdout;
    assert_eq!(verified.lines().count(), 2);
    assert!(verified.contains(&format!("{}: ok", s(&b))), "{verified}");

    let missing = dir.path().join("missing.car");
    for command in ["root", "info", "verify"] {
        let run = vecar(&[command, s(&a), s(&missing), s(&b)]);
        assert_eq!(run.code, 1, "{command}");
        assert!(run.stderr.contains("missing.car"), "{command}: {}", run.stderr);
        assert_eq!(
            run.stdout.matches(roots[1]).count(),
            1,
            "{command} goes on after a bad archive"
        );
    }
}

#[test]
fn diff_exit_code_says_whether_archives_differ() {
    let dir = tempdir();
    let a = build_fixture(dir.path(), "a.car", &["--threads", "1"]);
    let same = build_fixture(dir.path(), "same.car", &["--threads", "1"]);
    let b = dir.path().join("b.car");
    vecar(&["rm", s(&a), "doc-00000", "-o", s(&b), "--threads", "1"]).ok();
    assert_eq!(vecar(&["diff", "--exit-code", s(&a), s(&same)]).code, 0);
    let differs = vecar(&["diff", "--exit-code", s(&a), s(&b)]);
    assert_eq!(differs.code, 1, "{}", differs.stderr);
    assert!(differs.stdout.contains("- doc-00000"));
    assert_eq!(vecar(&["diff", "--exit-code", "--json", s(&a), s(&b)]).code, 1);
    assert_eq!(vecar(&["diff", s(&a), s(&b)]).code, 0, "without --exit-code: 0");
}

#[test]
fn get_reads_ids_from_a_file() {
    let dir = tempdir();
    let a = build_fixture(dir.path(), "a.car", &[]);
    let ids = dir.path().join("ids.txt");
    std::fs::write(&ids, "doc-00033\ndoc-00000\n").unwrap();
    let run = vecar(&["get", s(&a), "doc-00066", "--ids-from", s(&ids)]).ok();
    let got: Vec<_> = run.json_lines().iter().map(|r| r["id"].clone()).collect();
    assert_eq!(got, ["doc-00066", "doc-00033", "doc-00000"]);
    let piped = vecar_with_stdin(&["get", s(&a), "--ids-from", "-"], b"doc-00066\n").ok();
    assert_eq!(piped.json_lines()[0]["id"], "doc-00066");
    let none = vecar(&["get", s(&a)]);
    assert_eq!(none.code, 2, "{}", none.stderr);
    assert!(none.stderr.contains("--ids-from"), "{}", none.stderr);
}

#[test]
fn unknown_fields_are_a_usage_error_listing_the_fields() {
    let dir = tempdir();
    let a = build_fixture(dir.path(), "a.car", &[]);
    let run = vecar(&["query", s(&a), "--like", "doc-00000", "--fields", "id,sorce"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    for name in ["`sorce`", "score", "metadata", "archive", "source"] {
        assert!(run.stderr.contains(name), "{name} in {}", run.stderr);
    }
    let ok = vecar(&[
        "query",
        s(&a),
        "--like",
        "doc-00000",
        "--fields",
        "id,source",
        "-k",
        "1",
    ])
    .ok();
    assert!(ok.json_lines()[0]["source"].is_string(), "{}", ok.stdout);
}

#[test]
fn mistakes_in_a_query_are_usage_errors() {
    let dir = tempdir();
    let a = build_fixture(dir.path(), "a.car", &[]);
    for (filter, word) in [("source = x && year > 1", "`and`"), ("source = x || year > 1", "`or`")] {
        let run = vecar(&["query", s(&a), "--like", "doc-00000", "--filter", filter]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains(word), "{word} in {}", run.stderr);
    }
    let dash = vecar(&["query", "-"]);
    assert_eq!(dash.code, 2, "{}", dash.stderr);
    assert!(dash.stderr.contains("give a file"), "{}", dash.stderr);
    let zero = vecar(&["query", s(&a), "-k", "0", "--like", "doc-00000"]);
    assert_eq!(zero.code, 2, "{}", zero.stderr);
}

#[test]
fn help_and_version_into_a_full_disk_fail() {
    for args in [
        &["--help"][..],
        &["--version"],
        &["query", "--help"],
        &["man"],
        &["completions", "zsh"],
    ] {
        let (code, stderr) = into_full_stdout(args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(stderr.contains("standard output"), "{args:?}: {stderr}");
    }
    assert_eq!(
        vecar(&["--version"]).ok().stdout.trim(),
        concat!("vecar ", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn errors_name_the_path_and_say_what_is_wrong_in_plain_words() {
    let dir = tempdir();
    let sub = dir.path().join("dir");
    std::fs::create_dir(&sub).unwrap();
    let run = vecar(&["info", &format!("{}/", s(&sub))]);
    run.fails_with(&format!("{}/: is a directory, not an archive", s(&sub)));

    let docs = fixture("docs.jsonl");
    vecar(&["info", s(&docs)]).fails_with(&format!("{}: not a CAR file (it starts with '{{')", s(&docs)));

    let target = dir.path().join("missing/dir/x.car");
    let run = vecar(&["build", s(&docs), "-o", s(&target)]);
    run.fails_with(&format!("cannot create {}: no such directory", s(&target)));
    assert!(
        !run.stderr.contains(".vecar-") && !run.stderr.contains("os error"),
        "{}",
        run.stderr
    );

    let one = dir.path().join("one.jsonl");
    let first = std::fs::read_to_string(&docs)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    std::fs::write(&one, format!("{first}\n")).unwrap();
    let built = vecar(&["build", s(&one), "-o", s(&dir.path().join("one.car"))]).ok();
    assert!(
        built.stderr.contains(": 1 record of 384 dimensions;"),
        "{}",
        built.stderr
    );
    let a = build_fixture(dir.path(), "a.car", &[]);
    let rm = vecar(&["rm", s(&a), "nope", "-o", s(&dir.path().join("b.car"))]);
    rm.fails_with("1 id given is not in the archive: nope");
}

#[test]
fn usage_and_help_read_well() {
    let merge = vecar(&["merge", "--help"]).ok().stdout;
    assert!(merge.contains("<ARCHIVE> <ARCHIVE>..."), "{merge}");
    for command in ["build", "add", "query", "embed"] {
        let help = vecar(&[command, "--help"]).ok().stdout;
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            help.contains("`query` and `add` also read VECAR_MODEL"),
            "{command}: {help}"
        );
    }
}

#[test]
fn a_cosine_score_never_prints_above_one() {
    let dir = tempdir();
    let a = build_fixture(dir.path(), "a.car", &[]);
    let mut queries = String::new();
    for line in std::fs::read_to_string(fixture("docs.jsonl")).unwrap().lines() {
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        for factor in [1.1, 0.37, 3.3, 0.013] {
            let vector: Vec<f64> = doc["vector"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() * factor)
                .collect();
            queries.push_str(&serde_json::json!({ "vector": vector }).to_string());
            queries.push('\n');
        }
    }
    let run = vecar_with_stdin(
        &["query", s(&a), "-k", "1", "--exact", "--fields", "score"],
        queries.as_bytes(),
    )
    .ok();
    let scores: Vec<f64> = run.json_lines().iter().map(|h| h["score"].as_f64().unwrap()).collect();
    assert_eq!(scores.len(), 1200);
    assert!(
        scores.iter().all(|&x| x <= 1.0),
        "{:?}",
        scores.iter().cloned().fold(0.0, f64::max)
    );
    assert!(
        scores.iter().any(|&x| x == 1.0) && scores.iter().all(|&x| x > 0.9999),
        "each query finds its own record"
    );
}

/// The words of each line of a table after its header.
fn table_rows(table: &str) -> Vec<Vec<&str>> {
    table.lines().skip(1).map(|l| l.split_whitespace().collect()).collect()
}

#[test]
fn a_table_of_several_queries_names_the_query_of_each_hit() {
    let dir = tempdir();
    let a = build_fixture(dir.path(), "a.car", &[]);
    let queries = std::fs::read(fixture("queries.jsonl")).unwrap();
    let table = ["query", s(&a), "-k", "2", "--format", "table"];
    let run = vecar_with_stdin(&table, &queries).ok();
    let header: Vec<&str> = run.stdout.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["query", "rank", "id", "score", "text"]);
    let hits = vecar_with_stdin(&["query", s(&a), "-k", "2", "--fields", "query,rank,id"], &queries)
        .ok()
        .json_lines();
    let rows = table_rows(&run.stdout);
    assert_eq!(rows.len(), 40);
    for (row, hit) in rows.iter().zip(&hits) {
        let rank = hit["rank"].to_string();
        let expected = [hit["query"].as_str().unwrap(), &rank, hit["id"].as_str().unwrap()];
        assert_eq!(row[..3], expected, "{}", run.stdout);
    }
    assert_eq!((rows[0][0], rows[2][0], rows[39][0]), ("q0000", "q0001", "q0019"));

    // Queries without ids are named by their line number, from 0.
    let bare = bare_vectors(&queries, 3);
    let unnamed = vecar_with_stdin(&table, bare.as_bytes()).ok().stdout;
    let named: Vec<&str> = table_rows(&unnamed).iter().map(|r| r[0]).collect();
    assert_eq!(named, ["0", "0", "1", "1", "2", "2"]);

    // One query has no column for it: from stdin, --like, --vector; --fields decides alone.
    let one = vecar_with_stdin(&table, bare_vectors(&queries, 1).as_bytes()).ok();
    let like = vecar(&[&table[..], &["--like", "doc-00000"]].concat()).ok();
    let vector = bare_vectors(&queries, 1);
    let vector = vecar(&[&table[..], &["--vector", vector.trim_end()]].concat()).ok();
    for out in [&one.stdout, &like.stdout, &vector.stdout] {
        assert!(out.starts_with("rank"), "{out}");
        assert_eq!(table_rows(out).len(), 2, "{out}");
    }
    let chosen = vecar_with_stdin(&[&table[..], &["--fields", "id,score"]].concat(), &queries).ok();
    assert!(chosen.stdout.starts_with("id"), "{}", chosen.stdout);
}

/// The vectors of the first `n` queries as bare JSON arrays, one a line.
fn bare_vectors(queries: &[u8], n: usize) -> String {
    std::str::from_utf8(queries)
        .unwrap()
        .lines()
        .take(n)
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["vector"].to_string() + "\n")
        .collect()
}

#[test]
fn a_text_query_on_an_archive_without_a_model_says_where_to_get_one() {
    let dir = tempdir();
    let a = build_fixture(dir.path(), "docs.car", &[]);
    let no_model = [("VECAR_MODEL", "")];
    let text = vecar_with_env(&["query", s(&a), "--text", "a cluster job scheduler"], b"", &no_model);
    let stdin = vecar_with_env(
        &["query", s(&a)],
        b"{\"text\": \"a cluster job scheduler\"}\n",
        &no_model,
    );
    for run in [text, stdin] {
        run.fails_with("docs.car records no embedding model: to query it by text, give the model");
        for words in [
            "--model DIR or VECAR_MODEL=DIR",
            "tests/model/fetch.sh",
            "tests/model/all-MiniLM-L6-v2",
        ] {
            assert!(run.stderr.contains(words), "{words} in {}", run.stderr);
        }
    }
    // VECAR_MODEL is read for such an archive, as --model is.
    let missing = dir.path().join("no-such-model");
    let env = [("VECAR_MODEL", s(&missing))];
    vecar_with_env(&["query", s(&a), "--text", "x"], b"", &env).fails_with(s(&missing));
}

#[test]
fn what_the_tour_prints_reads_well() {
    let dir = tempdir();
    let a = build_fixture(dir.path(), "docs.car", &[]);
    // verify and info group thousands and count blocks as the build summary does.
    let file_bytes = vecar(&["info", "--json", s(&a)]).ok().json_lines()[0]["file_bytes"].clone();
    let verified = vecar(&["verify", s(&a)]).ok().stdout;
    let size = verified.trim_end().rsplit(", ").next().unwrap();
    assert!(verified.contains(", 21 blocks, "), "{verified}");
    assert!(
        size.contains(',') && size.replace(',', "") == format!("{file_bytes} bytes"),
        "{verified}"
    );
    let info = vecar(&["info", s(&a)]).ok().stdout;
    assert!(info.contains("  manifest          1 block, "), "{info}");
    assert!(info.contains("  vectors           8 blocks, 460,800 bytes"), "{info}");
    // The README's placeholder, or any other non-CID, is told what a CID looks like.
    let pulled = vecar(&["pull", "ROOT-CID", "-o", s(&dir.path().join("copy.car"))]);
    assert_eq!(pulled.code, 2, "{}", pulled.stderr);
    assert!(
        pulled
            .stderr
            .contains("\"ROOT-CID\" is not a CID: a root CID looks like bafyrei"),
        "{}",
        pulled.stderr
    );
    vecar(&["info", "ipfs://xyz"]).fails_with("ipfs://xyz: \"xyz\" is not a CID: a root CID looks like");
    // No node listening: the system's words, without "(os error 111)".
    let pushed = vecar(&["push", s(&a), "--api", "http://127.0.0.1:1"]);
    pushed.fails_with("http://127.0.0.1:1: connection failed: connection refused");
    assert!(!pushed.stderr.contains("os error"), "{}", pushed.stderr);
}

#[test]
fn help_keeps_a_command_s_own_options_out_of_the_remote_archive_heading() {
    for (command, own) in [
        ("info", "--json"),
        ("ls", "--json"),
        ("diff", "--exit-code"),
        ("get", "--ids-from"),
        ("add", "--output"),
        ("query", "--format"),
    ] {
        let help = vecar(&[command, "--help"]).ok().stdout;
        let (options, rest) = help
            .split_once("\nRemote archives")
            .expect("a heading for remote archives");
        // The heading's options: its indented lines, up to the text after the options.
        let remote: String = rest
            .lines()
            .skip(1)
            .take_while(|l| l.is_empty() || l.starts_with(' '))
            .collect();
        assert!(options.contains(own), "{command}: {own} before the heading: {help}");
        assert!(!remote.contains(own), "{command}: {own} not under it: {help}");
        assert!(remote.contains("--gateway") && remote.contains("--timeout"), "{help}");
    }
}
