//! The module graph keeps the shape `docs/architecture.md` draws: one node
//! core, two kubelet faces over it, the cluster side below the faces, and
//! no cycle between top-level areas of `src/`.
//!
//! The graph is read from the source text: every `crate::<area>` path
//! outside a comment (in `use` lines and inline paths alike) is an edge
//! from the file's top-level area to `<area>`.
#![allow(clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Edges between top-level areas, each with one file that makes it.
type Graph = BTreeMap<String, BTreeMap<String, PathBuf>>;

/// The node core: knows no kubelet API, no cluster, no face.
const CORE: &[&str] = &["dcmi", "device", "changes"];
/// The two kubelet faces.
const FACES: &[&str] = &["plugin", "dra"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level area a file belongs to (`None` for `lib.rs`, `main.rs`).
fn area_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let area = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(area, "lib" | "main")).then(|| area.to_string())
}

/// The code of a line without its `//` comment (doc comments included).
fn code_of(line: &str) -> &str {
    match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The areas a piece of code names through `crate::`, including each
/// member of a grouped `crate::{a::x, b::y}`.
fn areas_named(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(is_ident) {
            continue; // e.g. `my_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && is_ident(c) => {
                        let name: String =
                            group[i..].chars().take_while(|c| is_ident(*c)).collect();
                        found.push(name);
                        start = false;
                    }
                    c if c.is_whitespace() => {}
                    _ => start = false,
                }
            }
        } else {
            let name: String = rest.chars().take_while(|c| is_ident(*c)).collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

fn graph_of(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let Some(from) = area_of(src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("source file is UTF-8");
        for line in text.lines() {
            for to in areas_named(code_of(line)) {
                if to != from {
                    graph
                        .entry(from.clone())
                        .or_default()
                        .entry(to)
                        .or_insert_with(|| file.clone());
                }
            }
        }
    }
    graph
}

/// One cycle of the graph, as the areas along it, if there is any.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|e| e.keys()) {
            if let Some(cycle) = visit(next, graph, done, path) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

fn describe(graph: &Graph, cycle: &[String]) -> String {
    cycle
        .windows(2)
        .map(|pair| {
            let file = &graph[&pair[0]][&pair[1]];
            format!("{} -> {} ({})", pair[0], pair[1], file.display())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Edges that break a layering rule: `from` may not depend on any of `banned`.
fn forbidden(graph: &Graph, from: &[&str], banned: &[&str]) -> Vec<String> {
    let mut bad = Vec::new();
    for source in from {
        for (target, file) in graph.get(*source).into_iter().flatten() {
            if banned.contains(&target.as_str()) && target != source {
                bad.push(format!("{source} -> {target} ({})", file.display()));
            }
        }
    }
    bad
}

#[test]
fn no_two_top_level_areas_depend_on_each_other() {
    let graph = graph_of(&src_dir());
    assert!(
        graph.contains_key("plugin"),
        "the scan found no edges: {graph:?}"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("cycle between areas of src/: {}", describe(&graph, &cycle));
    }
}

#[test]
fn the_node_core_knows_no_face_no_cluster_side_and_no_wiring() {
    let graph = graph_of(&src_dir());
    let banned = [
        FACES,
        &["k8s", "cluster", "app", "telemetry", "proto", "grpc"],
    ]
    .concat();
    let bad = forbidden(&graph, CORE, &banned);
    assert!(bad.is_empty(), "the core reaches up: {bad:?}");
}

#[test]
fn a_face_never_imports_the_other_face() {
    let graph = graph_of(&src_dir());
    let bad = [
        forbidden(&graph, &["plugin"], &["dra", "app"]),
        forbidden(&graph, &["dra"], &["plugin", "app"]),
    ]
    .concat();
    assert!(bad.is_empty(), "a face reaches across or up: {bad:?}");
}

#[test]
fn the_cluster_side_never_imports_a_face_or_the_wiring() {
    let graph = graph_of(&src_dir());
    let banned = [FACES, &["app"]].concat();
    let bad = forbidden(&graph, &["k8s", "cluster", "telemetry", "grpc"], &banned);
    assert!(bad.is_empty(), "the cluster side reaches up: {bad:?}");
}

#[test]
fn the_scanner_sees_grouped_and_inline_paths_and_skips_comments() {
    assert_eq!(areas_named("use crate::k8s::volcano::Claim;"), ["k8s"]);
    assert_eq!(
        areas_named("use crate::{plugin::x, dra::{a, b}, k8s};"),
        ["plugin", "dra", "k8s"]
    );
    assert_eq!(areas_named("let t = crate::k8s::unix_seconds();"), ["k8s"]);
    assert_eq!(areas_named("use my_crate::plugin;"), Vec::<String>::new());
    assert_eq!(code_of("/// see `crate::plugin`"), "");
}

#[test]
fn a_cycle_is_found_and_named() {
    let mut graph = Graph::new();
    let edge = |graph: &mut Graph, a: &str, b: &str| {
        graph
            .entry(a.into())
            .or_default()
            .insert(b.into(), PathBuf::from(format!("src/{a}.rs")));
    };
    edge(&mut graph, "app", "k8s");
    edge(&mut graph, "k8s", "device");
    assert_eq!(find_cycle(&graph), None);
    edge(&mut graph, "device", "app");
    let cycle = find_cycle(&graph).expect("a cycle");
    assert_eq!(cycle, ["app", "k8s", "device", "app"]);
    assert!(describe(&graph, &cycle).contains("device -> app (src/device.rs)"));
}
