//! The layers of `src/` point one way (see the overview in `src/lib.rs`): a folder imports only
//! folders below it, and no files import each other in a circle. Read from the source itself,
//! every `crate::…`, `super::…` and `self::…` path (in `use` trees too), so the test fails on
//! the first import that points up or closes a circle, naming the file.
//!
//! Run alone: `cargo test --test layers`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module's place, top (0) to bottom. A module may import only modules with a
/// larger number; two modules with the same number may not import each other.
const LAYERS: &[(&str, u32)] = &[
    ("main", 0),
    ("cli", 1),
    ("check", 2),
    ("logging", 2),
    ("server", 3),
    ("api", 4),
    ("jobs", 5),
    ("files", 6),
    ("upstream", 6),
    ("sync", 7),
    ("plugins", 8),
    ("auth", 8),
    ("store", 9),
    ("trace_export", 9),
    ("schema", 10),
    ("config", 10),
    // Names (metric names, small helpers) any layer may use; they import nothing of the crate.
    ("ops", 11),
    ("suggest", 11),
    ("key_positions", 11),
];

/// A module path inside the crate, e.g. `["sync", "feed", "view"]`; `[]` is `lib.rs`.
type ModPath = Vec<String>;

fn source_files() -> BTreeMap<ModPath, PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&root).unwrap().with_extension("");
            let mut module: ModPath = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|m| m == "mod" || m == "lib") {
                module.pop();
            }
            files.insert(module, path);
        }
    }
    files
}

/// The text without comments and string literals, so that only code is read.
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if bytes[i..].starts_with(b"/*") {
            while i < bytes.len() && !bytes[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if bytes[i] == b'"' && (i == 0 || bytes[i - 1] != b'\'') {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path starting with `crate`, `super` or `self` in `code`, with `{…}` groups expanded.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':');
        if starts_word && is_ident(chars[i]) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if matches!(word.as_str(), "crate" | "super" | "self") {
                let (paths, end) = read_path(&chars, start);
                found.extend(paths);
                i = end;
            }
        } else {
            i += 1;
        }
    }
    found
}

/// Reads the path (or use tree) at `start`; answers every path it names and where it ends.
fn read_path(chars: &[char], start: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    let mut i = start;
    loop {
        let begin = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        if i > begin {
            prefix.push(chars[begin..i].iter().collect::<String>());
        }
        if chars[i..].starts_with(&[':', ':']) {
            i += 2;
            if chars.get(i) == Some(&'{') {
                let (inner, end) = read_group(chars, i + 1);
                let paths = inner
                    .into_iter()
                    .map(|tail| {
                        let mut path = prefix.clone();
                        path.extend(tail.into_iter().filter(|s| s != "self"));
                        path
                    })
                    .collect();
                return (paths, end);
            }
            continue;
        }
        return (vec![prefix], i);
    }
}

/// The entries of a `{…}` group starting after `{`, each a path relative to the group.
fn read_group(chars: &[char], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let mut entries = Vec::new();
    while i < chars.len() {
        match chars[i] {
            '}' => return (entries, i + 1),
            c if is_ident(c) => {
                let (paths, end) = read_path(chars, i);
                entries.extend(paths);
                i = end;
                // Skip `as name`.
                while i < chars.len() && !matches!(chars[i], ',' | '}') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    (entries, i)
}

/// The module a path names: its longest prefix that is a file of the crate.
fn module_of(
    path: &[String],
    from: &ModPath,
    is_dir_module: bool,
    files: &BTreeMap<ModPath, PathBuf>,
) -> Option<ModPath> {
    let mut absolute: ModPath = Vec::new();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("self") | Some("super") => {
            // `self` of `a/b.rs` is `a::b`, and of `a/b/mod.rs` is `a::b` too; `super` goes up.
            absolute = from.clone();
            let _ = is_dir_module;
            while rest.first().is_some_and(|s| s == "self" || s == "super") {
                if rest[0] == "super" {
                    absolute.pop();
                }
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    absolute.extend(rest.iter().cloned());
    (1..=absolute.len())
        .rev()
        .map(|n| absolute[..n].to_vec())
        .find(|candidate| files.contains_key(candidate))
}

/// Every import between two different modules: `(from, to)`.
fn imports() -> BTreeSet<(ModPath, ModPath)> {
    let files = source_files();
    let mut edges = BTreeSet::new();
    for (module, file) in &files {
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let is_dir_module = file.ends_with("mod.rs");
        for path in paths_in(&code) {
            if let Some(target) = module_of(&path, module, is_dir_module, &files)
                && &target != module
            {
                edges.insert((module.clone(), target));
            }
        }
    }
    edges
}

fn layer(module: &ModPath) -> Option<u32> {
    let top = module.first().map_or("main", String::as_str);
    LAYERS
        .iter()
        .find(|(name, _)| *name == top)
        .map(|(_, n)| *n)
}

#[test]
fn every_top_level_module_has_a_layer() {
    let unplaced: BTreeSet<String> = source_files()
        .keys()
        .filter(|m| !m.is_empty() && layer(m).is_none())
        .map(|m| m[0].clone())
        .collect();
    assert!(
        unplaced.is_empty(),
        "give these modules a place in LAYERS (tests/layers.rs) and in the overview of \
         src/lib.rs: {unplaced:?}"
    );
}

#[test]
fn folders_import_only_the_layers_below_them() {
    let mut upward = Vec::new();
    for (from, to) in imports() {
        if from.is_empty() || from.first() == to.first() {
            continue;
        }
        let (Some(a), Some(b)) = (layer(&from), layer(&to)) else {
            continue;
        };
        if b <= a {
            upward.push(format!("{} -> {}", from.join("::"), to.join("::")));
        }
    }
    assert!(
        upward.is_empty(),
        "{} imports point up (or sideways) the layers of src/lib.rs:\n{}",
        upward.len(),
        upward.join("\n")
    );
}

#[test]
fn no_files_import_each_other_in_a_circle() {
    // A file's own folder module (`mod.rs`, which declares and re-exports it) is its facade,
    // not a dependency: edges from a file to a module containing it are left out.
    let edges: Vec<(ModPath, ModPath)> = imports()
        .into_iter()
        .filter(|(from, to)| !from.starts_with(to))
        .collect();
    let mut graph: BTreeMap<&ModPath, Vec<&ModPath>> = BTreeMap::new();
    for (from, to) in &edges {
        graph.entry(from).or_default().push(to);
    }
    let mut circles = Vec::new();
    for start in graph.keys() {
        // A path back to `start` through modules sorted after it finds each circle once.
        let mut stack: Vec<(&ModPath, Vec<&ModPath>)> = vec![(start, vec![start])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in graph.get(node).into_iter().flatten() {
                if next == start {
                    circles.push(
                        path.iter()
                            .map(|m| m.join("::"))
                            .collect::<Vec<_>>()
                            .join(" -> "),
                    );
                } else if *next > *start && seen.insert(*next) {
                    let mut longer = path.clone();
                    longer.push(next);
                    stack.push((next, longer));
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "modules that import each other in a circle:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_reader_of_imports_finds_them() {
    // The test above can only fail if imports are found at all: one known of each form.
    let edges = imports();
    let has = |from: &str, to: &str| {
        let split = |s: &str| s.split("::").map(String::from).collect::<ModPath>();
        edges.contains(&(split(from), split(to)))
    };
    assert!(has("server", "api"), "a plain `use crate::api::…`");
    assert!(has("cli", "check"), "a `use crate::{{…}}` group");
    assert!(
        has("sync::feed::stream", "sync::feed::cursor"),
        "a `super::` path"
    );
}
