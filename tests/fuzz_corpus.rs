//! The fuzz targets' seeds on the stable toolchain: every file of `fuzz/corpus/<target>/`
//! goes through the same checks the target runs (`fuzz/src/lib.rs`, included here), so the
//! targets' code keeps compiling with the phone's and no seed ever fails. A crash the fuzzer
//! finds becomes a seed here once fixed.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod checks;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join("corpus").join(target);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    files.sort();
    files
}

#[test]
fn every_seed_passes_its_targets_checks() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (target, check) in checks::TARGETS {
        let files = seeds(target);
        assert!(
            files.len() >= 3,
            "fuzz/corpus/{target} holds {} seeds; give it a few meaningful ones",
            files.len()
        );
        for file in files {
            let data = fs::read(&file).unwrap();
            count += 1;
            if let Err(e) = panic::catch_unwind(AssertUnwindSafe(|| check(&data))) {
                let why = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{}: {why}", file.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "seeds that fail:\n{}",
        failures.join("\n")
    );
    assert!(count >= 3 * checks::TARGETS.len());
}

#[test]
fn every_target_has_a_binary_a_corpus_and_nothing_else() {
    let names: BTreeSet<String> = checks::TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let bins: BTreeSet<String> = manifest
        .split("[[bin]]")
        .skip(1)
        .filter_map(|bin| {
            let line = bin.lines().find(|l| l.starts_with("name = "))?;
            Some(line["name = ".len()..].trim_matches('"').to_string())
        })
        .collect();
    assert_eq!(
        bins, names,
        "fuzz/Cargo.toml's [[bin]]s and fuzz/src/lib.rs's TARGETS"
    );
    for name in &names {
        let source = fs::read_to_string(fuzz_dir().join(format!("fuzz_targets/{name}.rs")))
            .unwrap_or_else(|e| panic!("fuzz_targets/{name}.rs: {e}"));
        assert!(
            source.contains(&format!("microsip_fuzz::{name}(data)")),
            "fuzz_targets/{name}.rs runs microsip_fuzz::{name}"
        );
    }
    let corpora: BTreeSet<String> = fs::read_dir(fuzz_dir().join("corpus"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(corpora, names, "fuzz/corpus/* and the targets");
    // Small: the seeds are hand-written examples, not a fuzzer's output.
    let bytes: u64 = names
        .iter()
        .flat_map(|n| seeds(n))
        .map(|f| f.metadata().unwrap().len())
        .sum();
    assert!(
        bytes < 64 * 1024,
        "the seeds take {bytes} bytes; keep them small"
    );
}
