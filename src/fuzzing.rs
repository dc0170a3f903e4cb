//! Entry points of the fuzz targets (`fuzz/`, run by `scripts/fuzz.sh`) and
//! of their corpus replay (`tests/fuzz_corpus.rs`). Each takes the bytes a
//! fuzzer made, feeds them to one parser of outside input and panics when a
//! property that must hold for every input fails. Not part of the API: hidden
//! from the docs, and the parsers stay private to the crate.

// A target reports a broken property by panicking: that is what a fuzzer
// and the replay test look for.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod authority;
mod cluster;
mod node;

pub use authority::{ReferenceHpack, authority_frames, hpack_differential, huffman_differential};
pub use cluster::{deviceinfo_configmap, fault_table, pod_decoding, volcano_annotations};
pub use node::{dcmi_text, flags, health_request, kubelet_id_state};

/// A fuzz target: panics when the input breaks a property.
pub type Target = fn(&[u8]);

/// Every target that needs nothing beyond this crate, by its name in `fuzz/`.
/// The differential targets (`hpack_diff`, `huffman_diff`) also need an
/// independent HPACK implementation, which the caller passes in.
pub const TARGETS: &[(&str, Target)] = &[
    ("authority_frames", authority_frames),
    ("volcano_annotations", volcano_annotations),
    ("pod_decoding", pod_decoding),
    ("deviceinfo_configmap", deviceinfo_configmap),
    ("fault_table", fault_table),
    ("kubelet_id_state", kubelet_id_state),
    ("flags", flags),
    ("dcmi_text", dcmi_text),
    ("health_request", health_request),
];

/// Longest error text a hostile input may produce: errors quote the bad
/// part cut to 64 characters, never the whole input (they end up in logs and
/// Events). A quote is Debug-escaped, and one character can escape to 10
/// (`\u{10ffff}`), so a quote may take 640 characters, plus the message.
pub const MAX_ERROR_CHARS: usize = 1024;

fn assert_short_error(error: &dyn std::fmt::Display) {
    let text = error.to_string();
    assert!(
        text.chars().count() <= MAX_ERROR_CHARS,
        "error of {} characters: {:.200}",
        text.chars().count(),
        text
    );
}
