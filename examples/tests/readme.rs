//! The README cannot drift from what CI runs. Its Rust code is compiled and run as doctests
//! of this crate (`src/lib.rs`); the blocks that need a server are `no_run` there and are
//! instead byte-for-byte copies of files this crate compiles and `tests/examples.rs` runs;
//! its `Cargo.toml` is this crate's dependency list.

use std::collections::BTreeSet;
use std::path::Path;

const README: &str = include_str!("../../README.md");
const MANIFEST: &str = include_str!("../Cargo.toml");

/// Where the README's `Cargo.toml` puts this checkout, relative to the user's crate.
const USER_CHECKOUT: &str = "../pycharter-rs/";

/// A fenced code block: its info string (`rust,no_run`) and its text.
struct Block<'a> {
    info: &'a str,
    code: String,
}

fn blocks(markdown: &str) -> Vec<Block<'_>> {
    let mut blocks = Vec::new();
    let mut open: Option<(&str, Vec<&str>)> = None;
    for line in markdown.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim(), Vec::new())),
            (Some(_), Some("")) => {
                let (info, lines) = open.take().expect("a block is open");
                let mut code = lines.join("\n");
                code.push('\n');
                blocks.push(Block { info, code });
            }
            (Some((_, lines)), _) => lines.push(line),
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "the README ends inside a code block");
    blocks
}

/// `(section, line)` of every dependency line of a manifest, comments and blank lines left out.
fn dependency_lines(manifest: &str) -> BTreeSet<(String, String)> {
    let mut section = String::new();
    let mut lines = BTreeSet::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.to_string();
        } else if section.ends_with("dependencies]") && !line.is_empty() && !line.starts_with('#') {
            lines.insert((section.clone(), line.to_string()));
        }
    }
    lines
}

/// The README's `Cargo.toml` is this crate's dependency list, paths aside: a crate that
/// copies it builds what CI builds here.
#[test]
fn readme_cargo_toml_is_this_crates_dependency_list() {
    let toml: Vec<Block> = blocks(README)
        .into_iter()
        .filter(|b| b.info == "toml")
        .collect();
    assert_eq!(toml.len(), 1, "the README shows one Cargo.toml");
    let shown = dependency_lines(&toml[0].code.replace(USER_CHECKOUT, "../"));
    let built: BTreeSet<(String, String)> = dependency_lines(MANIFEST)
        .into_iter()
        .filter(|(_, line)| !line.ends_with("# test support"))
        .collect();
    assert!(
        !shown.is_empty(),
        "no dependency in the README's Cargo.toml"
    );
    assert_eq!(shown, built, "README Cargo.toml vs examples/Cargo.toml");
}

/// Every `rust` block either runs as a doctest or is `no_run` and mirrors a file of this
/// crate: its first line names the file as a user's crate would hold it (`examples/x.rs`,
/// `tests/x.rs`; this crate keeps its examples at its root).
#[test]
fn readme_rust_blocks_run_or_are_the_files_ci_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut mirrored = Vec::new();
    for block in blocks(README) {
        let Some(flags) = block.info.strip_prefix("rust") else {
            continue;
        };
        match flags {
            "" => continue,
            ",no_run" => {}
            other => panic!("README rust block marked {other:?}: it would not run"),
        }
        let first = block.code.lines().next().unwrap_or_default();
        let user_path = first
            .strip_prefix("// ")
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_else(|| panic!("a no_run block must start `// <file>:`, not {first:?}"));
        let file = root.join(user_path.strip_prefix("examples/").unwrap_or(user_path));
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{user_path} ({}): {e}", file.display()));
        assert!(
            text == block.code,
            "the README's {user_path} differs from {}",
            file.display()
        );
        mirrored.push(user_path.to_string());
    }
    // The server-backed paths of the README: the default connect and the production pattern.
    for expected in ["examples/postgres.rs", "examples/production.rs"] {
        assert!(
            mirrored.iter().any(|m| m == expected),
            "{expected} is not in the README"
        );
    }
}

/// The install line of the README names the package that builds the `pycharter` binary.
#[test]
fn readme_install_command_builds_the_pycharter_binary() {
    assert!(README.contains("cargo install --path cli"));
    let cli = include_str!("../../cli/Cargo.toml");
    assert!(
        cli.contains("[[bin]]\nname = \"pycharter\""),
        "cli/Cargo.toml builds the pycharter binary"
    );
}
